"""A typed, async publish/subscribe bus on anyio: ordered per subscriber, bounded, lossless by default.

Events are frozen dataclasses deriving from :class:`Event`. Subscribers are inline (called inside
``publish``) or queued (a bounded queue and a task each). See :class:`EventBus` for the guarantees.
"""

from .bus import DEFAULT_MAXSIZE, EventBus
from .errors import BusClosedError, DeliveryError, HandlerFailure, QueueFullError, UndeliveredEventsError
from .event import Event
from .handlers import noop_hook
from .mailbox import Overflow
from .stream import EventStream
from .subscription import Mode, OnError, Subscription, SubscriptionStats

__all__ = [
    "DEFAULT_MAXSIZE",
    "BusClosedError",
    "DeliveryError",
    "Event",
    "EventBus",
    "EventStream",
    "HandlerFailure",
    "Mode",
    "OnError",
    "Overflow",
    "QueueFullError",
    "Subscription",
    "SubscriptionStats",
    "UndeliveredEventsError",
    "noop_hook",
]

"""Property: every subscriber sees exactly the published sequence of its types, in order."""

import random

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus

from .events import LoudPing, Ping, Pong

pytestmark = pytest.mark.anyio

EVENT_KINDS = [Ping, Pong, LoudPing]

subscriber_specs = st.lists(
    st.tuples(
        st.sampled_from([Ping, Pong]),
        st.sampled_from(["inline", "queued"]),
        st.booleans(),  # async def handler?
        st.integers(min_value=1, max_value=5),  # maxsize
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.integers(min_value=0, max_value=2), min_size=0, max_size=40),
    specs=subscriber_specs,
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_each_subscriber_sees_its_events_once_in_order(kinds: list[int], specs: list, seed: int) -> None:
    delays = random.Random(seed)
    published = [EVENT_KINDS[k](n) for n, k in enumerate(kinds)]
    received: list[list[object]] = [[] for _ in specs]

    def make_handler(sink: list[object], is_async: bool):
        if is_async:

            async def handler(event: object) -> None:
                await anyio.sleep(delays.choice([0, 0, 0.0005]))
                sink.append(event)

            return handler
        return sink.append

    async with EventBus() as bus:
        for (event_type, mode, is_async, maxsize), sink in zip(specs, received):
            bus.subscribe(event_type, make_handler(sink, is_async), mode=mode, maxsize=maxsize)
        for event in published:
            await bus.publish(event)
            if delays.random() < 0.2:
                await anyio.sleep(0)

    for (event_type, *_), sink in zip(specs, received):
        assert sink == [e for e in published if isinstance(e, event_type)]

"""Event types shared by the bus tests."""

from dataclasses import dataclass

from eventbus import Event


@dataclass(frozen=True, slots=True)
class Ping(Event):
    hook = "on_ping"
    n: int


@dataclass(frozen=True, slots=True)
class Pong(Event):
    hook = "on_pong"
    n: int


@dataclass(frozen=True, slots=True)
class LoudPing(Ping):
    hook = "on_loud_ping"


@dataclass(frozen=True, slots=True)
class Unheard(Event):
    hook = "on_unheard"
    n: int

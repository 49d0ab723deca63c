"""Event delivery cost against the floors it is judged by; prints one JSON object per result.

    python tests/benchmarks/bench_bus.py [--events N] [--repeats R]

``bus`` is ``await bus.publish(event)``; ``bus_nowait`` is ``bus.publish_nowait(event)``, from
plain code on the event loop. Each figure is the median of R interleaved repetitions, measured side by side in one run, so the
ratios hold on a shared, noisy machine even when the absolute times drift. Events are made before
the clock starts: the figures are the cost of delivery alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from eventbus import Event, EventBus


@dataclass(frozen=True, slots=True)
class Tick(Event):
    hook = "on_tick"
    n: int


@dataclass(frozen=True, slots=True)
class Unheard(Event):
    hook = "on_unheard"
    n: int


def _handler(event: object) -> None:
    pass


async def _async_handler(event: object) -> None:
    pass


async def _noop(event: object) -> None:
    pass


Case = Callable[[list], Awaitable[float]]  # delivers the events, returns seconds


def inline_cases(subscribers: int) -> dict[str, Case]:
    handlers = [_handler] * subscribers

    async def plain_loop(events: list) -> float:
        start = time.perf_counter()
        for event in events:
            for handler in handlers:
                handler(event)
        return time.perf_counter() - start

    async def plain_loop_awaited(events: list) -> float:
        async def fan_out(event: object) -> None:
            for handler in handlers:
                handler(event)

        start = time.perf_counter()
        for event in events:
            await fan_out(event)
        return time.perf_counter() - start

    return {
        "plain_loop": plain_loop, "plain_loop_awaited": plain_loop_awaited,
        "bus": bus_cases(handlers, nowait=False), "bus_nowait": bus_cases(handlers, nowait=True),
    }  # fmt: skip


def bus_cases(handlers: list[Callable[[object], None]], *, nowait: bool) -> Case:
    """Publish every event on a bus where ``handlers`` are inline subscribers of Tick."""

    async def publish(events: list) -> float:
        async with EventBus() as bus:
            for handler in handlers:
                bus.subscribe(Tick, handler)
            start = time.perf_counter()
            if nowait:
                for event in events:
                    bus.publish_nowait(event)
            else:
                for event in events:
                    await bus.publish(event)
            return time.perf_counter() - start

    return publish


def queued_cases(subscribers: int) -> dict[str, Case]:
    async def memory_streams(events: list) -> float:
        streams = [anyio.create_memory_object_stream[object](1024) for _ in range(subscribers)]

        async def consume(receive: anyio.abc.ObjectReceiveStream[object]) -> None:
            async with receive:
                async for event in receive:
                    await _async_handler(event)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _, receive in streams:
                tg.start_soon(consume, receive)
            for event in events:
                for send, _ in streams:
                    await send.send(event)
            for send, _ in streams:
                await send.aclose()
        return time.perf_counter() - start

    async def bus_queued(events: list) -> float:
        async with EventBus() as bus:
            for _ in range(subscribers):
                bus.subscribe(Tick, _async_handler, mode="queued", maxsize=1024)
            start = time.perf_counter()
            for event in events:
                await bus.publish(event)
            await bus.drain()
            return time.perf_counter() - start

    return {"memory_streams": memory_streams, "bus": bus_queued}


def unsubscribed_cases() -> dict[str, Case]:
    async def plain_call(events: list) -> float:
        start = time.perf_counter()
        for event in events:
            _handler(event)
        return time.perf_counter() - start

    async def awaited_call(events: list) -> float:
        start = time.perf_counter()
        for event in events:
            await _noop(event)
        return time.perf_counter() - start

    # The bus is busy with another type (Tick) than the one published (Unheard).
    busy = [_handler]
    return {
        "plain_call": plain_call, "awaited_call": awaited_call,
        "bus": bus_cases(busy, nowait=False), "bus_nowait": bus_cases(busy, nowait=True),
    }  # fmt: skip


async def measure(
    name: str, cases: dict[str, Case], events: list, deliveries_per_event: int, repeats: int
) -> dict:
    n = len(events)
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, case in cases.items():  # interleaved, so drift hits every case alike
            times[label].append(await case(events))
    per_delivery = {
        label: statistics.median(samples) / (n * deliveries_per_event) * 1e6 for label, samples in times.items()
    }
    floors = {label: value for label, value in per_delivery.items() if not label.startswith("bus")}
    ratios = {
        f"ratio_{label}_to": {floor: round(value / floor_value, 3) for floor, floor_value in floors.items()}
        for label, value in per_delivery.items()
        if label.startswith("bus")
    }
    return {
        "benchmark": name,
        "us_per_delivery": {label: round(value, 4) for label, value in per_delivery.items()},
        **ratios,
        "events": n,
        "repeats": repeats,
    }


async def main(events: int, repeats: int) -> None:
    ticks = [Tick(i) for i in range(events)]
    unheard = [Unheard(i) for i in range(events)]
    results = []
    for n in (1, 10):
        results.append(await measure(f"inline_def_{n}_subscribers", inline_cases(n), ticks, n, repeats))
        results.append(await measure(f"queued_async_{n}_subscribers", queued_cases(n), ticks[: events // 10], n, repeats))
    results.append(await measure("unsubscribed_publish", unsubscribed_cases(), unheard, 1, repeats))
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.events, args.repeats, backend=args.backend)

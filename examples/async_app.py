"""Training inside an anyio application: the event loop never freezes.

A heartbeat task keeps ticking while the model trains; an ``async def`` callback streams progress
(here to stdout, in a real service to a websocket); a second task reads the run's events from the
application's bus with ``bus.stream()``.

    python examples/async_app.py [--epochs N] [--backend asyncio|trio]
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import numpy as np

import trainer
from eventbus import EventBus
from trainer import Callback, Input, Sequential
from trainer.events import EpochEnd
from trainer.layers import Dense


class StreamProgress(Callback):
    """Queued, because its hooks are async: it runs while the next epoch computes."""

    async def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        await anyio.sleep(0.01)  # a slow network write
        print(f"  [progress] epoch {epoch + 1}: loss {logs['loss']:.4f}")


async def heartbeat(ticks: list[int]) -> None:
    while True:
        await anyio.sleep(0.005)
        ticks[0] += 1


async def watch(bus: EventBus, seen: list[int]) -> None:
    async with bus.stream(EpochEnd, maxsize=8, overflow="keep_latest") as events:
        async for event in events:
            seen.append(event.epoch)


async def main(epochs: int) -> None:
    trainer.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 32)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.float32)
    model = Sequential([Input(shape=(32,)), Dense(128, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

    ticks, seen = [0], []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        tg.start_soon(heartbeat, ticks)
        tg.start_soon(watch, bus, seen)
        history = await model.fit_async(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[StreamProgress()], bus=bus)
        await bus.drain()
        tg.cancel_scope.cancel()
    print(f"trained {len(history.epoch)} epochs, accuracy {history.history['accuracy'][-1]:.3f}")
    print(f"the heartbeat ticked {ticks[0]} times while training; the stream saw epochs {[e + 1 for e in seen]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.epochs, backend=args.backend)

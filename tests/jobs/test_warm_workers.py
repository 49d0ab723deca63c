"""The warm worker pool's bookkeeping against a stand-in cluster whose actors are placed, die and
fail when the test says: no actor is ever lost, given twice, or left behind by a cancellation."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from trainer.jobs.warm_workers import RayWorker, WarmWorkers

pytestmark = pytest.mark.anyio


class Dead(Exception):
    """What the stand-in cluster raises for an actor that died."""


class Actor:
    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self.pid = next(self._numbers)
        self.up = anyio.Event()  # placed and started
        self.dead = False
        self.killed = False


class Cluster:
    """Makes actors; ``where`` waits until the test places one (``place``)."""

    def __init__(self, *, place_at_once: bool = False) -> None:
        self.actors: list[Actor] = []
        self.place_at_once = place_at_once
        self.where_started = anyio.Event()

    def create(self) -> Actor:
        actor = Actor()
        self.actors.append(actor)
        if self.place_at_once:
            actor.up.set()
        return actor

    async def where(self, actor: Actor) -> dict[str, Any]:
        self.where_started.set()
        await actor.up.wait()
        if actor.dead:
            raise Dead(f"actor {actor.pid} died")
        return {"host": "here", "pid": actor.pid}

    def kill(self, actor: Actor) -> None:
        actor.killed = True

    def pool(self, size: int) -> WarmWorkers:
        return WarmWorkers(size, self.create, self.where, self.kill, (Dead,))

    def accounted_for(self, pool: WarmWorkers, *held: RayWorker) -> bool:
        """Every actor is killed, idle in ``pool`` or held by a run (``held``), and only one of these."""
        idle = [worker.actor for worker in pool.idle_workers]
        in_use = [worker.actor for worker in held]
        return all((actor.killed + idle.count(actor) + in_use.count(actor)) == 1 for actor in self.actors)


async def test_a_run_takes_the_idle_worker_and_gives_it_back_for_the_next() -> None:
    cluster = Cluster(place_at_once=True)
    pool = cluster.pool(1)
    await pool.fill(1, timeout=10)
    [idle] = pool.idle_workers
    worker = await pool.take()
    assert worker is idle and pool.idle_workers == ()
    pool.give_back(worker)
    assert pool.idle_workers == (worker,) and await pool.take() is worker
    assert len(cluster.actors) == 1


async def test_a_worker_given_back_goes_to_the_run_waiting_for_its_own_and_that_one_is_killed() -> None:
    cluster = Cluster()
    pool = cluster.pool(1)
    busy = RayWorker(cluster.create(), {"pid": 0})
    taken: list[RayWorker] = []

    async def take() -> None:
        taken.append(await pool.take())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await cluster.where_started.wait()  # its own actor is waiting to be placed
        pool.give_back(busy)
    assert taken == [busy]
    own = cluster.actors[1]
    assert own.killed and not busy.actor.killed
    assert cluster.accounted_for(pool, busy)


async def test_a_run_cancelled_while_it_checks_an_idle_worker_leaves_it_idle() -> None:
    cluster = Cluster(place_at_once=True)
    pool = cluster.pool(1)
    await pool.fill(1, timeout=10)
    [idle] = pool.idle_workers
    idle.actor.up = anyio.Event()  # the liveness round trip now hangs
    with anyio.move_on_after(0.05):
        await pool.take()
    assert pool.idle_workers == (idle,) and not idle.actor.killed
    assert cluster.accounted_for(pool)


async def test_an_idle_worker_that_died_is_killed_and_a_new_one_is_made() -> None:
    cluster = Cluster(place_at_once=True)
    pool = cluster.pool(1)
    await pool.fill(1, timeout=10)
    [idle] = pool.idle_workers
    idle.actor.dead = True
    worker = await pool.take()
    assert worker is not idle and idle.actor.killed
    assert cluster.accounted_for(pool, worker)


async def test_a_run_cancelled_once_its_own_worker_is_up_gives_that_worker_back() -> None:
    cluster = Cluster()
    pool = cluster.pool(1)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_once_placed() -> None:
                await cluster.where_started.wait()
                cluster.actors[0].up.set()  # placed: place_own records it, then the run is cancelled
                scope.cancel()

            tg.start_soon(cancel_once_placed)
            await pool.take()
    assert scope.cancelled_caught
    assert cluster.accounted_for(pool)
    assert [worker.actor for worker in pool.idle_workers] == cluster.actors  # kept, not lost


async def test_a_run_cancelled_while_its_own_worker_waits_kills_it() -> None:
    cluster = Cluster()
    pool = cluster.pool(1)
    with anyio.move_on_after(0.05):
        await pool.take()
    assert [actor.killed for actor in cluster.actors] == [True]
    pool.give_back(RayWorker(cluster.create(), {"pid": 0}))  # no waiter is left to hand it to
    assert len(pool.idle_workers) == 1 and cluster.accounted_for(pool)


async def test_a_worker_that_fails_to_start_raises_its_own_error() -> None:
    cluster = Cluster()
    pool = cluster.pool(1)

    async def die_when_placed() -> None:
        await cluster.where_started.wait()
        cluster.actors[0].dead = True
        cluster.actors[0].up.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(die_when_placed)
        with pytest.raises(Dead, match="actor .* died"):  # itself, not an exception group
            await pool.take()
    assert cluster.accounted_for(pool)


async def test_fill_raises_a_failed_start_as_itself_and_keeps_the_workers_that_came_up() -> None:
    cluster = Cluster(place_at_once=True)
    original = cluster.create

    def second_dies() -> Actor:
        actor = original()
        actor.dead = len(cluster.actors) == 2
        return actor

    cluster.create = second_dies  # type: ignore[method-assign]
    pool = cluster.pool(3)
    with pytest.raises(Dead):
        await pool.fill(3, timeout=10)
    assert len(pool.idle_workers) == 2 and cluster.accounted_for(pool)
    pool.close()
    assert all(actor.killed for actor in cluster.actors)


async def test_fill_kills_a_worker_not_up_in_time_and_close_kills_the_idle_ones() -> None:
    cluster = Cluster()
    pool = cluster.pool(2)
    await pool.fill(2, timeout=0.05)
    assert pool.idle_workers == () and all(actor.killed for actor in cluster.actors)
    pool.give_back(RayWorker(cluster.create(), {"pid": 0}))
    pool.close()
    pool.give_back(RayWorker(cluster.create(), {"pid": 0}))  # after close: killed, not kept
    assert pool.idle_workers == () and all(actor.killed for actor in cluster.actors)


async def test_without_a_size_nothing_is_kept() -> None:
    cluster = Cluster(place_at_once=True)
    pool = cluster.pool(0)
    worker = await pool.take()
    pool.give_back(worker)
    assert worker.actor.killed and pool.idle_workers == ()

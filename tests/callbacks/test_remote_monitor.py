"""RemoteMonitor against real HTTP servers on 127.0.0.1: what it posts, and that a bad server never stops training."""

from __future__ import annotations

import json
import socket
import urllib.parse
from typing import Any

import anyio
import pytest

from trainer.callbacks.callback import Callback
from trainer.callbacks.remote_monitor import RemoteMonitor

from ..http_recorder import recording_server
from .training_run import build_model, dataset


async def fit(callbacks: list[Callback], epochs: int = 3) -> Any:
    x, y = dataset()
    model = build_model(dropout=0)
    return await model.fit_async(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, validation_split=0.25)


@pytest.mark.anyio
async def test_each_epoch_s_logs_are_posted_as_keras_posts_them() -> None:
    async with recording_server(lambda: 200) as (root, posts):
        history = await fit([RemoteMonitor(root=root)])
    assert [post.path for post in posts] == ["/publish/epoch/end/"] * 3
    for epoch, post in enumerate(posts):
        assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
        (sent,) = urllib.parse.parse_qs(post.body.decode())["data"]
        assert json.loads(sent) == {"epoch": epoch, **{key: values[epoch] for key, values in history.history.items()}}


@pytest.mark.anyio
async def test_send_as_json_posts_a_json_body_with_the_given_headers_field_and_path() -> None:
    async with recording_server(lambda: 200) as (root, posts):
        history = await fit([RemoteMonitor(root=root, path="/runs/7", headers={"X-Run": "7"}, send_as_json=True)])
    assert [post.path for post in posts] == ["/runs/7"] * 3
    assert all(post.headers["Content-Type"] == "application/json" and post.headers["X-Run"] == "7" for post in posts)
    assert [json.loads(post.body)["loss"] for post in posts] == history.history["loss"]


@pytest.mark.anyio
async def test_a_slow_server_never_holds_training_up() -> None:
    # The server answers no POST until training has ended: were the posts on the compute path,
    # training could never end (the server would give up, answer 503, and the test fail).
    order: list[str] = []
    training_ended = anyio.Event()

    async def answer_after_training() -> int:
        with anyio.move_on_after(30):
            await training_ended.wait()
        order.append("answered")
        return 200 if training_ended.is_set() else 503

    class TrainingEnded(Callback):
        # A def hook, so inline: called on the event loop, where setting an anyio.Event is allowed.
        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            order.append("train_end")
            training_ended.set()

    async with recording_server(answer_after_training) as (root, posts):
        history = await fit([RemoteMonitor(root=root), TrainingEnded()])
    assert order == ["train_end", "answered", "answered", "answered"]
    assert len(posts) == 3 and history.epoch == [0, 1, 2]


@pytest.mark.anyio
async def test_a_server_answering_500_warns_once_and_training_goes_on() -> None:
    async with recording_server(lambda: 500) as (root, posts):
        with pytest.warns(RuntimeWarning, match="answered 500") as warned:
            history = await fit([RemoteMonitor(root=root)])
    assert len(posts) == 3 and history.epoch == [0, 1, 2]
    assert len([w for w in warned if issubclass(w.category, RuntimeWarning)]) == 1


@pytest.mark.anyio
async def test_a_refused_connection_warns_and_training_goes_on() -> None:
    with socket.socket() as unused:  # bound, never listening: the port stays ours, and refuses
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with pytest.warns(RuntimeWarning, match=rf"127\.0\.0\.1:{port}.*refused"):
            history = await fit([RemoteMonitor(root=f"http://127.0.0.1:{port}")])
    assert history.epoch == [0, 1, 2]


@pytest.mark.anyio
async def test_a_server_slower_than_the_timeout_warns_and_training_goes_on() -> None:
    release = anyio.Event()

    async def answer_once_released() -> int:
        with anyio.move_on_after(5):
            await release.wait()
        return 200 if release.is_set() else 503

    async with recording_server(answer_once_released) as (root, posts):
        with pytest.warns(RuntimeWarning, match="timed out"):
            history = await fit([RemoteMonitor(root=root, timeout=0.05)], epochs=2)
        release.set()
    assert history.epoch == [0, 1] and len(posts) == 2


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"root": "file:///etc"}, ValueError, "http:// or https://"),
        ({"root": "localhost:9000"}, ValueError, "http:// or https://"),
        ({"headers": [("X", "1")]}, TypeError, "headers must be a mapping"),
        ({"timeout": 0}, ValueError, "timeout must be a positive number"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a positive number"),
    ],
)
def test_bad_arguments_are_refused_at_construction(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        RemoteMonitor(**arguments)

"""A callback that records what it hears, in the format of tests/keras_reference/lifecycle.json."""

from __future__ import annotations

from typing import Any

from trainer import Callback
from trainer.callbacks import HOOKS

VALUE_HOOKS = {"on_epoch_end", "on_test_end", "on_train_end"}


class Recorder(Callback):
    """Records every hook call as [hook, index_or_None, sorted_logs_keys], and end-of-phase values."""

    def __init__(self, name: str = "recorder", shared_log: list | None = None) -> None:
        super().__init__()
        self.name = name
        self.calls: list[list[Any]] = []
        self.values: list[list[Any]] = []
        self.params_seen: dict[str, Any] | None = None
        self.shared_log = shared_log

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.params_seen = dict(params)

    def record(self, hook: str, index: int | None, logs: dict[str, Any]) -> None:
        keys = sorted(logs)
        if hook == "on_predict_batch_end":
            keys = [*keys, f"outputs.shape={list(logs['outputs'].shape)}"]
        self.calls.append([hook, index, keys])
        if hook in VALUE_HOOKS and logs:
            self.values.append([len(self.calls) - 1, {k: round(float(v), 6) for k, v in logs.items()}])
        if self.shared_log is not None:
            history = getattr(self.model, "history", None)
            self.shared_log.append([self.name, hook, index, len(getattr(history, "epoch", []) or [])])


def _make_hook(hook: str):
    if hook.endswith(("batch_begin", "batch_end")) or hook.startswith("on_epoch"):

        def indexed(self: Recorder, index: int, logs: dict[str, Any] | None = None) -> None:
            self.record(hook, index, dict(logs or {}))

        return indexed

    def plain(self: Recorder, logs: dict[str, Any] | None = None) -> None:
        self.record(hook, None, dict(logs or {}))

    return plain


for _hook in HOOKS:
    setattr(Recorder, _hook, _make_hook(_hook))

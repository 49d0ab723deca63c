"""The main job: an MLP on scikit-learn's bundled handwritten digits, with Keras's callbacks.

Trains on 8x8 images of digits (1 797 samples, bundled with scikit-learn: nothing is downloaded),
stops early on the validation loss and keeps the best weights, checkpoints the best model, logs
every epoch to CSV, and reports progress through an ``async def`` callback that runs concurrently
with training. Seeded, so two runs give the same numbers.

    python -m pip install -e ".[examples]" && python examples/digits.py [--plot] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import trainer
from trainer import Callback, Input, Sequential
from trainer.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
from trainer.layers import Dense, Dropout

SEED = 7


class AsyncProgressLogger(Callback):
    """Queued (its hooks are async): appends one JSON line per epoch without ever holding training up."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        await anyio.Path(self.path).write_text("")

    async def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        line = json.dumps({"epoch": epoch, **(logs or {})}) + "\n"  # 0-based, as the CSV log and the hooks
        async with await anyio.open_file(self.path, "a") as file:
            await file.write(line)


def digits_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train 60 %, validation 20 %, test 20 %, stratified; pixels scaled to [0, 1]."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, stratify=y, random_state=SEED)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SEED)
    return {"train": (x_train, y_train), "validation": (x_val, y_val), "test": (x_test, y_test)}


def build_model() -> Sequential:
    model = Sequential([
        Input(shape=(64,)),
        Dense(128, activation="relu"),
        Dropout(0.2),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(
        optimizer=trainer.optimizers.Adam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(out: Path, epochs: int, plot: bool) -> float:
    trainer.set_random_seed(SEED)
    out.mkdir(parents=True, exist_ok=True)
    data = digits_splits()
    model = build_model()
    checkpoint = out / "best.model.npz"
    callbacks = [
        EarlyStopping(monitor="val_loss", patience=15, restore_best_weights=True),
        ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True),
        CSVLogger(out / "training.csv"),
        AsyncProgressLogger(out / "progress.jsonl"),
    ]
    history = model.fit(
        *data["train"], validation_data=data["validation"], epochs=epochs, batch_size=32, callbacks=callbacks, verbose=2
    )
    _, accuracy = model.evaluate(*data["test"], verbose=0)
    reloaded = trainer.load_model(checkpoint)
    _, reloaded_accuracy = reloaded.evaluate(*data["test"], verbose=0)
    print(f"\ntrained {len(history.epoch)} epochs; test accuracy {accuracy:.4f} "
          f"(best checkpoint reloaded: {reloaded_accuracy:.4f})")  # fmt: skip
    print(f"best model: {checkpoint}\nepoch log:  {out / 'training.csv'}\nprogress:   {out / 'progress.jsonl'}")
    if plot:
        history.plot(out / "history.png")
        print(f"plot:       {out / 'history.png'}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("digits-run"), help="where the files go")
    parser.add_argument("--epochs", type=int, default=200, help="at most; early stopping usually ends sooner")
    parser.add_argument("--plot", action="store_true", help="also save history.png (needs matplotlib)")
    args = parser.parse_args()
    main(args.out, args.epochs, args.plot)

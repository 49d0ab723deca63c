"""The digits as 8x8 images through a small convnet (Conv2D, BatchNormalization, MaxPooling2D,
GlobalAveragePooling2D), with the same splits as the MLP of `digits.py`.

Seeded, so two runs give the same numbers. Takes a few seconds on a laptop CPU.

    python -m pip install -e ".[examples]" && python examples/digits_cnn.py [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import time

# This model's matrix products are too small to gain from BLAS threads, and on a busy machine OpenBLAS's
# spinning threads cost several times the work itself (measured on 2 loaded cores: about 0.3 s an epoch
# with one thread, 1 to 9 s with two). Set before numpy loads; an OPENBLAS_NUM_THREADS you give wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from digits import SEED, digits_splits  # noqa: E402  (the sibling example: the same stratified splits)

import trainer  # noqa: E402
from trainer import Input, Sequential
from trainer.callbacks import EarlyStopping
from trainer.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D


def build_model() -> Sequential:
    model = Sequential([
        Input(shape=(8, 8, 1)),
        Conv2D(32, 3, padding="same", use_bias=False),
        BatchNormalization(),
        Activation("relu"),
        MaxPooling2D(),
        Conv2D(64, 3, padding="same", activation="relu"),
        MaxPooling2D(),
        Flatten(),
        Dropout(0.3),
        Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(
        optimizer=trainer.optimizers.Adam(learning_rate=2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(epochs: int) -> float:
    trainer.set_random_seed(SEED)
    data = {name: (x.reshape(-1, 8, 8, 1), y) for name, (x, y) in digits_splits().items()}
    model = build_model()
    model.summary()
    started = time.perf_counter()
    history = model.fit(
        *data["train"],
        validation_data=data["validation"],
        epochs=epochs,
        batch_size=32,
        callbacks=[EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)],
        verbose=0,
    )
    seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(*data["test"], verbose=0)
    print(f"trained {len(history.epoch)} epochs in {seconds:.1f} s; test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="at most; early stopping may end sooner")
    main(parser.parse_args().epochs)

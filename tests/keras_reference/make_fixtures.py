"""Make the Keras 3 reference fixtures that the `trainer` parity tests compare against.

Keras is NOT a dependency of this project. This script runs only in a scratch virtualenv
outside the repository:

    python3 -m venv /work/scratch/keras-venv
    /work/scratch/keras-venv/bin/pip install torch==2.13.0 keras numpy
    /work/scratch/keras-venv/bin/pip install jax jaxlib   # only for the steps_per_execution scenario
    KERAS_BACKEND=torch /work/scratch/keras-venv/bin/python tests/keras_reference/make_fixtures.py

Made with Keras 3.15.1, torch 2.13.0+cpu, numpy 2.4.6 (and jax 0.10.2 for one lifecycle scenario:
the torch backend refuses steps_per_execution > 1).

Outputs, next to this file:
    cases.json       manifest of the numeric parity cases
    <case>.npz       data, initial/final weights, history, evaluate, predict, per-batch logs
    lifecycle.json   callback call sequences seen by a recording callback, per scenario
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
N_TRAIN = 50
N_EVAL = 20
EPOCHS = 3


# ---------------------------------------------------------------- case specifications


def dense(units, activation, use_bias=True, kernel_regularizer=None, bias_regularizer=None):
    return {
        "units": units,
        "activation": activation,
        "use_bias": use_bias,
        "kernel_regularizer": kernel_regularizer,
        "bias_regularizer": bias_regularizer,
    }


def opt(class_name, **config):
    return {"class_name": class_name, "config": config}


def loss_obj(class_name, **config):
    return {"class_name": class_name, "config": config, "passed_as": "object"}


def loss_str(identifier, class_name):
    """A loss passed to compile() by its string name."""
    return {"class_name": class_name, "config": {}, "passed_as": "string", "identifier": identifier}


def case(name, hidden, out, loss, optimizer, metrics, target, batch_size=16, input_dim=5,
         sample_weight=False, weighted_metrics=()):
    """target: 'regression' (float, shape (n, k)), 'binary' (0/1 float, shape (n, 1)),
    'onehot' (one-hot float, shape (n, k)) or 'sparse' (integer labels, shape (n,))."""
    return {
        "name": name,
        "input_dim": input_dim,
        "layers": [hidden, out],
        "optimizer": optimizer,
        "loss": loss,
        "metrics": metrics,
        "weighted_metrics": list(weighted_metrics),
        "epochs": EPOCHS,
        "batch_size": batch_size,
        "uses_sample_weight": sample_weight,
        "target": target,
        "n_train": N_TRAIN,
        "n_eval": N_EVAL,
    }


def reg(l1=0.0, l2=0.0):
    return {"l1": l1, "l2": l2}


MSE = loss_obj("MeanSquaredError")
MAE = loss_obj("MeanAbsoluteError")

CASES = [
    # optimizers
    case("sgd_default_mse_relu", dense(8, "relu"), dense(2, "linear"), MSE,
         opt("SGD"), ["mae"], "regression"),
    case("sgd_momentum_mse_tanh", dense(8, "tanh"), dense(2, "linear"), MSE,
         opt("SGD", learning_rate=0.05, momentum=0.9), ["mse", "mae"], "regression", batch_size=12),
    case("sgd_nesterov_mae_sigmoid", dense(8, "sigmoid"), dense(2, "linear"), MAE,
         opt("SGD", learning_rate=0.05, momentum=0.9, nesterov=True), ["mse"], "regression"),
    case("adam_sparse_logits_relu", dense(8, "relu"), dense(3, "linear"),
         loss_obj("SparseCategoricalCrossentropy", from_logits=True),
         opt("Adam", learning_rate=0.01), ["accuracy"], "sparse", batch_size=16, input_dim=4),
    case("adam_amsgrad_categorical_softmax_elu", dense(8, "elu"), dense(3, "softmax"),
         loss_obj("CategoricalCrossentropy"),
         opt("Adam", learning_rate=0.01, amsgrad=True), ["accuracy"], "onehot", batch_size=12),
    case("adamw_default_binary_sigmoid_selu", dense(8, "selu"), dense(1, "sigmoid"),
         loss_obj("BinaryCrossentropy"),
         opt("AdamW", learning_rate=0.01), ["accuracy"], "binary", batch_size=16, input_dim=6),
    case("adamw_decay_binary_logits_gelu", dense(8, "gelu"), dense(1, "linear"),
         loss_obj("BinaryCrossentropy", from_logits=True),
         opt("AdamW", learning_rate=0.01, weight_decay=0.1), ["binary_accuracy"], "binary"),
    case("rmsprop_huber_softplus", dense(8, "softplus"), dense(2, "linear"),
         loss_obj("Huber"), opt("RMSprop", learning_rate=0.01), ["mae"], "regression", batch_size=7),
    case("rmsprop_centered_momentum_huber_delta_leaky_relu", dense(8, "leaky_relu"),
         dense(2, "linear"), loss_obj("Huber", delta=0.5),
         opt("RMSprop", learning_rate=0.01, momentum=0.5, centered=True), ["mse"], "regression"),
    case("adagrad_categorical_logits_softmax_hidden", dense(8, "softmax"), dense(3, "linear"),
         loss_obj("CategoricalCrossentropy", from_logits=True),
         opt("Adagrad", learning_rate=0.1), ["categorical_accuracy"], "onehot"),
    case("sgd_sparse_softmax_linear", dense(8, "linear"), dense(3, "softmax"),
         loss_obj("SparseCategoricalCrossentropy"),
         opt("SGD", learning_rate=0.1), ["sparse_categorical_accuracy", "accuracy"], "sparse",
         batch_size=12),
    # losses passed by string name
    case("string_binary_crossentropy", dense(8, "relu"), dense(1, "sigmoid"),
         loss_str("binary_crossentropy", "BinaryCrossentropy"),
         opt("Adam", learning_rate=0.01), ["accuracy", "binary_accuracy"], "binary"),
    case("string_categorical_crossentropy", dense(8, "tanh"), dense(3, "softmax"),
         loss_str("categorical_crossentropy", "CategoricalCrossentropy"),
         opt("Adam", learning_rate=0.01), ["accuracy", "categorical_accuracy"], "onehot"),
    case("string_sparse_categorical_crossentropy", dense(8, "relu"), dense(3, "softmax"),
         loss_str("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
         opt("RMSprop", learning_rate=0.01), ["accuracy"], "sparse", batch_size=7),
    case("string_mse", dense(8, "elu"), dense(3, "linear"), loss_str("mse", "MeanSquaredError"),
         opt("SGD", learning_rate=0.05), ["mae", "mse"], "regression"),
    case("string_mean_absolute_error", dense(8, "relu"), dense(2, "linear"),
         loss_str("mean_absolute_error", "MeanAbsoluteError"),
         opt("Adam", learning_rate=0.01), ["mse"], "regression"),
    case("string_huber", dense(8, "gelu"), dense(2, "linear"), loss_str("huber", "Huber"),
         opt("SGD", learning_rate=0.1), ["mae"], "regression"),
    # binary accuracy on logits (threshold stays 0.5, not 0)
    case("binary_logits_accuracy", dense(8, "tanh"), dense(1, "linear"),
         loss_obj("BinaryCrossentropy", from_logits=True),
         opt("SGD", learning_rate=0.1, momentum=0.9), ["accuracy"], "binary"),
    # regularizers
    case("l2_kernel_l1_bias", dense(8, "relu", kernel_regularizer=reg(l2=0.01),
                                    bias_regularizer=reg(l1=0.01)),
         dense(2, "linear", kernel_regularizer=reg(l2=0.01)), MSE,
         opt("SGD", learning_rate=0.05), ["mae"], "regression"),
    case("l1l2_everywhere_sparse", dense(8, "tanh", kernel_regularizer=reg(l1=0.005, l2=0.01),
                                          bias_regularizer=reg(l1=0.005, l2=0.01)),
         dense(3, "linear", kernel_regularizer=reg(l1=0.005, l2=0.01),
               bias_regularizer=reg(l2=0.02)),
         loss_obj("SparseCategoricalCrossentropy", from_logits=True),
         opt("Adam", learning_rate=0.01), ["accuracy"], "sparse", batch_size=12),
    # use_bias=False
    case("no_bias_hidden", dense(8, "relu", use_bias=False), dense(2, "linear"), MSE,
         opt("Adam", learning_rate=0.01), ["mae"], "regression"),
    case("no_bias_output_binary", dense(8, "sigmoid"), dense(1, "sigmoid", use_bias=False),
         loss_obj("BinaryCrossentropy"), opt("RMSprop", learning_rate=0.01), ["accuracy"],
         "binary", batch_size=12),
    # sample weights (fit and evaluate)
    case("sample_weight_mse", dense(8, "relu"), dense(2, "linear"), MSE,
         opt("SGD", learning_rate=0.05), ["mae"], "regression", sample_weight=True),
    case("sample_weight_sparse_logits", dense(8, "tanh"), dense(3, "linear"),
         loss_obj("SparseCategoricalCrossentropy", from_logits=True),
         opt("Adam", learning_rate=0.01), ["accuracy"], "sparse", batch_size=12,
         sample_weight=True),
    case("sample_weight_binary_regularized", dense(8, "elu", kernel_regularizer=reg(l2=0.01)),
         dense(1, "sigmoid"), loss_obj("BinaryCrossentropy"),
         opt("AdamW", learning_rate=0.01, weight_decay=0.05), ["binary_accuracy"], "binary",
         batch_size=7, sample_weight=True),
    # `metrics` ignore sample_weight; only `weighted_metrics` use it
    case("sample_weight_weighted_metrics", dense(8, "relu"), dense(2, "linear"), MSE,
         opt("SGD", learning_rate=0.05), ["mae"], "regression", batch_size=12,
         sample_weight=True, weighted_metrics=["mse"]),
]


# ---------------------------------------------------------------- data


def make_data(spec, rng):
    """Train and eval arrays for a case, all from one generator and one hidden rule."""
    d, k = spec["input_dim"], spec["layers"][-1]["units"]
    target = spec["target"]
    n_cls = k if target in ("onehot", "sparse") else 3
    w = rng.normal(size=(d, max(k, n_cls))).astype(np.float32)

    def draw(n):
        x = rng.normal(size=(n, d)).astype(np.float32)
        z = x @ w + 0.3 * rng.normal(size=(n, w.shape[1])).astype(np.float32)
        if target == "regression":
            y = np.tanh(z[:, :k]).astype(np.float32)
        elif target == "binary":
            y = (z[:, :1] > 0).astype(np.float32)
        elif target == "onehot":
            y = np.eye(k, dtype=np.float32)[z[:, :k].argmax(axis=1)]
        else:
            y = z[:, :k].argmax(axis=1).astype(np.int32)
        return x, y

    data = {}
    data["x"], data["y"] = draw(spec["n_train"])
    data["x_eval"], data["y_eval"] = draw(spec["n_eval"])
    if spec["uses_sample_weight"]:
        data["sample_weight"] = rng.uniform(0.2, 2.0, size=spec["n_train"]).astype(np.float32)
        data["sample_weight_eval"] = rng.uniform(0.2, 2.0, size=spec["n_eval"]).astype(np.float32)
    return data


# ---------------------------------------------------------------- model building


def make_regularizer(cfg):
    return None if cfg is None else keras.regularizers.L1L2(l1=cfg["l1"], l2=cfg["l2"])


def build_model(spec):
    layers = [keras.Input(shape=(spec["input_dim"],))]
    for cfg in spec["layers"]:
        layers.append(keras.layers.Dense(
            cfg["units"],
            activation=cfg["activation"],
            use_bias=cfg["use_bias"],
            kernel_regularizer=make_regularizer(cfg["kernel_regularizer"]),
            bias_regularizer=make_regularizer(cfg["bias_regularizer"]),
        ))
    return keras.Sequential(layers)


def make_optimizer(cfg):
    return getattr(keras.optimizers, cfg["class_name"])(**cfg["config"])


def make_loss(cfg):
    if cfg["passed_as"] == "string":
        return cfg["identifier"]
    return getattr(keras.losses, cfg["class_name"])(**cfg["config"])


def loss_name(cfg, loss):
    return cfg["identifier"] if cfg["passed_as"] == "string" else loss.name


class BatchLogRecorder(keras.callbacks.Callback):
    """Keeps the on_train_batch_end logs of the first epoch (running means since epoch start)."""

    def __init__(self):
        super().__init__()
        self.epoch = None
        self.logs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 0:
            self.logs.append(dict(logs))


# ---------------------------------------------------------------- numeric cases


def run_case(spec):
    """Train one case; return (manifest entry, arrays for the npz)."""
    seed = zlib.crc32(spec["name"].encode()) % (2**31)
    keras.utils.set_random_seed(seed)
    data = make_data(spec, np.random.default_rng(seed))

    model = build_model(spec)
    loss = make_loss(spec["loss"])
    model.compile(optimizer=make_optimizer(spec["optimizer"]), loss=loss, metrics=spec["metrics"],
                  weighted_metrics=spec["weighted_metrics"] or None)
    arrays = dict(data)
    arrays.update({f"init_{i}": w for i, w in enumerate(model.get_weights())})

    recorder = BatchLogRecorder()
    history = model.fit(
        data["x"], data["y"], sample_weight=data.get("sample_weight"),
        batch_size=spec["batch_size"], epochs=spec["epochs"], shuffle=False, verbose=0,
        callbacks=[recorder],
    )
    arrays.update({f"final_{i}": w for i, w in enumerate(model.get_weights())})
    for key, values in history.history.items():
        arrays[f"history__{key}"] = np.asarray(values, dtype=np.float64)
    arrays["batch_losses"] = np.asarray([logs["loss"] for logs in recorder.logs], dtype=np.float64)
    for key in recorder.logs[0]:
        arrays[f"batch__{key}"] = np.asarray([logs[key] for logs in recorder.logs], dtype=np.float64)

    scores = model.evaluate(
        data["x_eval"], data["y_eval"], sample_weight=data.get("sample_weight_eval"),
        batch_size=spec["batch_size"], return_dict=True, verbose=0,
    )
    arrays.update({f"evaluate__{k}": np.asarray(v, dtype=np.float64) for k, v in scores.items()})
    arrays["predict"] = model.predict(data["x_eval"], batch_size=spec["batch_size"], verbose=0)

    entry = dict(spec)
    entry["loss"] = dict(spec["loss"], name=loss_name(spec["loss"], loss))
    entry["history_keys"] = list(history.history)
    entry["evaluate_keys"] = list(scores)
    entry["seed"] = seed
    return entry, arrays


def write_cases(out_dir):
    entries = []
    for spec in CASES:
        entry, arrays = run_case(spec)
        np.savez(out_dir / f"{spec['name']}.npz", **arrays)
        entries.append(entry)
        print(f"{spec['name']}: history {entry['history_keys']}", file=sys.stderr)
    manifest = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "cases": entries,
    }
    (out_dir / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")


# ---------------------------------------------------------------- lifecycle scenarios

HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
]
VALUE_HOOKS = {"on_epoch_end", "on_test_end", "on_train_end"}


def rounded(logs):
    return {k: round(float(v), 6) for k, v in sorted(logs.items())}


def _make_hook(hook):
    takes_index = "batch" in hook or "epoch" in hook

    def method(self, *args, logs=None):
        index = args[0] if takes_index else None
        rest = args[1:] if takes_index else args
        if rest:
            logs = rest[0]
        self.record(hook, index, logs or {})

    method.__name__ = hook
    return method


class Recorder(keras.callbacks.Callback):
    """Records every hook call as [hook, index_or_null, sorted_logs_keys]."""

    def __init__(self, name="recorder", shared_log=None):
        super().__init__()
        self.name = name
        self.calls = []
        self.values = []
        self.params_seen = None
        self.shared_log = shared_log  # for ordering across several callbacks

    def set_params(self, params):
        super().set_params(params)
        self.params_seen = dict(params)

    def record(self, hook, index, logs):
        if hook == "on_predict_batch_end":
            keys = sorted(logs) + [f"outputs.shape={list(logs['outputs'].shape)}"]
        else:
            keys = sorted(logs)
        self.calls.append([hook, index, keys])
        if hook in VALUE_HOOKS and logs:
            self.values.append([len(self.calls) - 1, rounded(logs)])
        if self.shared_log is not None:
            history = getattr(self.model, "history", None)
            epochs_in_history = len(getattr(history, "epoch", []) or [])
            self.shared_log.append([self.name, hook, index, epochs_in_history])


for _hook in HOOKS:
    setattr(Recorder, _hook, _make_hook(_hook))


class StopAt(keras.callbacks.Callback):
    """Sets model.stop_training in the given hook at the given (epoch, index)."""

    def __init__(self, hook, epoch, batch=None):
        super().__init__()
        self.hook, self.at_epoch, self.at_batch = hook, epoch, batch
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.hook == "on_train_batch_end" and (self.epoch, batch) == (self.at_epoch, self.at_batch):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.hook == "on_epoch_end" and epoch == self.at_epoch:
            self.model.stop_training = True


def lifecycle_data():
    rng = np.random.default_rng(7)
    return {
        "x": rng.normal(size=(10, 3)).astype(np.float32).round(3),
        "y": rng.normal(size=(10, 2)).astype(np.float32).round(3),
        "x_val": rng.normal(size=(6, 3)).astype(np.float32).round(3),
        "y_val": rng.normal(size=(6, 2)).astype(np.float32).round(3),
    }


def lifecycle_model(steps_per_execution=1):
    keras.utils.set_random_seed(1234)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"],
                  steps_per_execution=steps_per_execution)
    return model


SCENARIOS = {
    "fit_plain": dict(kind="fit", epochs=2, batch_size=4),
    "fit_validation_data": dict(kind="fit", epochs=2, batch_size=4, validation_data=True,
                                validation_batch_size=4),
    "fit_validation_split": dict(kind="fit", epochs=2, batch_size=4, validation_split=0.2),
    "fit_validation_freq": dict(kind="fit", epochs=3, batch_size=4, validation_data=True,
                                validation_freq=2),
    "fit_initial_epoch": dict(kind="fit", epochs=3, batch_size=4, initial_epoch=1),
    "fit_steps_per_execution": dict(kind="fit", epochs=2, batch_size=2, steps_per_execution=2),
    "fit_steps_per_epoch": dict(kind="fit", epochs=3, batch_size=4, steps_per_epoch=2),
    "evaluate": dict(kind="evaluate", batch_size=4),
    "predict": dict(kind="predict", batch_size=4),
    "stop_batch": dict(kind="fit", epochs=3, batch_size=4, validation_data=True,
                       stop=("on_train_batch_end", 0, 1)),
    "stop_epoch": dict(kind="fit", epochs=3, batch_size=4, stop=("on_epoch_end", 0, None)),
    "two_callbacks_order": dict(kind="fit", epochs=2, batch_size=4, validation_data=True,
                                two_callbacks=True),
}


def run_scenario(name):
    cfg = dict(SCENARIOS[name])
    kind = cfg.pop("kind")
    data = lifecycle_data()
    model = lifecycle_model(cfg.pop("steps_per_execution", 1))
    init_weights = [w.tolist() for w in model.get_weights()]
    shared_log = [] if cfg.pop("two_callbacks", False) else None
    recorder = Recorder("first", shared_log)
    callbacks = [recorder]
    if shared_log is not None:
        callbacks.append(Recorder("second", shared_log))
    stop = cfg.pop("stop", None)
    if stop:
        callbacks.insert(0, StopAt(*stop))
    if cfg.pop("validation_data", False):
        cfg["validation_data"] = (data["x_val"], data["y_val"])

    result = {"backend": keras.backend.backend(), "call_kwargs": describe_kwargs(kind, cfg)}
    try:
        if kind == "fit":
            model.fit(data["x"], data["y"], shuffle=False, verbose=0, callbacks=callbacks, **cfg)
        elif kind == "evaluate":
            model.evaluate(data["x"], data["y"], verbose=0, callbacks=callbacks, **cfg)
        else:
            model.predict(data["x"], verbose=0, callbacks=callbacks, **cfg)
    except Exception as exc:  # recorded, e.g. torch refusing steps_per_execution > 1
        result["error"] = f"{type(exc).__name__}: {exc}"
    result.update(
        init_weights=init_weights,
        params=recorder.params_seen,
        calls=recorder.calls,
        logs_values=recorder.values,
    )
    if shared_log is not None:
        result["callback_order"] = shared_log
    return result


def describe_kwargs(kind, cfg):
    out = {k: v for k, v in cfg.items() if k != "validation_data"}
    if "validation_data" in cfg:
        out["validation_data"] = "(x_val, y_val)"
    return {"method": kind, **out}


def run_scenario_on_jax(name):
    """The torch backend refuses steps_per_execution > 1; record what JAX does instead."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, __file__, "--scenario", name],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def write_lifecycle(out_dir):
    data = lifecycle_data()
    scenarios = {}
    for name in SCENARIOS:
        scenarios[name] = run_scenario(name)
        print(f"lifecycle {name}: {len(scenarios[name]['calls'])} calls", file=sys.stderr)
    scenarios["fit_steps_per_execution_jax"] = run_scenario_on_jax("fit_steps_per_execution")
    doc = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "model": "Sequential([Input((3,)), Dense(2)]), compile(optimizer='sgd', loss='mse', "
                 "metrics=['mae']), keras.utils.set_random_seed(1234) before building",
        "call_format": "[hook_name, index_or_null, sorted_logs_keys]; logs_values: "
                       "[call_position, logs rounded to 6 decimals] for epoch/test/train end",
        "callback_order_format": "[callback_name, hook, index, len(model.history.epoch) at the call]",
        "data": {k: v.tolist() for k, v in data.items()},
        "scenarios": scenarios,
    }
    (out_dir / "lifecycle.json").write_text(json.dumps(doc, indent=1) + "\n")


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--scenario", help="run one lifecycle scenario, print JSON (internal)")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario)))
        return
    write_cases(args.out)
    write_lifecycle(args.out)


if __name__ == "__main__":
    main()

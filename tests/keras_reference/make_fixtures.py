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


# ---------------------------------------------------------------- layer, optimizer and schedule cases
# Each layer and optimizer is given as {"class_name", "config"} with Keras's own argument names, which the
# engine shares, so the parity test builds the same model from the same entry. A learning rate may be a
# schedule, given the same way. Written to models.json and models/<case>.npz.


def layer(class_name, **config):
    return {"class_name": class_name, "config": config}


def schedule(class_name, **config):
    return {"class_name": class_name, "config": config}


def model_case(name, input_shape, layers, optimizer, loss, metrics, target, classes=3, input_dtype="float32",
               batch_size=16, epochs=3, n_train=48, n_eval=20, vocabulary=None):
    return {
        "name": name, "input_shape": list(input_shape), "input_dtype": input_dtype, "vocabulary": vocabulary,
        "layers": layers, "optimizer": optimizer, "loss": loss, "metrics": metrics, "target": target,
        "classes": classes, "batch_size": batch_size, "epochs": epochs, "n_train": n_train, "n_eval": n_eval,
    }


def metric(class_name, **config):
    return {"class_name": class_name, "config": config}


def small_dense(units_out, activation="linear"):
    return [layer("Dense", units=8, activation="tanh"), layer("Dense", units=units_out, activation=activation)]


MODEL_CASES = [
    model_case("conv2d_maxpool_classifier", (8, 8, 1), [
        layer("Conv2D", filters=4, kernel_size=3, activation="relu"),
        layer("MaxPooling2D", pool_size=2),
        layer("Conv2D", filters=5, kernel_size=(2, 3), activation="relu", kernel_regularizer={"l2": 0.01}),
        layer("Flatten"),
        layer("Dropout", rate=0.0),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Adam", learning_rate=0.01), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    model_case("conv2d_strided_same_avgpool_gap", (9, 9, 2), [
        layer("Conv2D", filters=4, kernel_size=3, strides=2, padding="same", activation="tanh"),
        layer("AveragePooling2D", pool_size=2, strides=1),
        layer("Conv2D", filters=3, kernel_size=3, padding="same", dilation_rate=2, use_bias=False),
        layer("AveragePooling2D", pool_size=2, padding="same"),
        layer("GlobalAveragePooling2D"),
        layer("Dense", units=3),
    ], opt("SGD", learning_rate=0.1, momentum=0.9),
        loss_obj("CategoricalCrossentropy", from_logits=True), ["categorical_accuracy"], "onehot"),
    model_case("conv2d_same_pools_gmp", (7, 6, 3), [
        layer("Conv2D", filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="relu",
              bias_initializer="ones"),
        layer("MaxPooling2D", pool_size=(2, 2), strides=(1, 2), padding="same"),
        layer("AveragePooling2D", pool_size=(3, 1), padding="valid", strides=1),
        layer("GlobalMaxPooling2D"),
        layer("Dense", units=1, activation="sigmoid"),
    ], opt("RMSprop", learning_rate=0.01), "binary_crossentropy", ["accuracy"], "binary"),
    model_case("batchnorm_dense", (6,), [
        layer("Dense", units=8),
        layer("BatchNormalization"),
        layer("Activation", activation="relu"),
        layer("Dense", units=8, activation="tanh"),
        layer("BatchNormalization", momentum=0.8, epsilon=0.01, center=False),
        layer("Dense", units=4),
        layer("BatchNormalization", scale=False, momentum=0.5),
        layer("Dense", units=1, activation="sigmoid"),
    ], opt("SGD", learning_rate=0.1, momentum=0.9), "binary_crossentropy", ["accuracy"], "binary"),
    model_case("batchnorm_conv", (6, 6, 2), [
        layer("Conv2D", filters=4, kernel_size=3, use_bias=False),
        layer("BatchNormalization", momentum=0.9),
        layer("Activation", activation="relu"),
        layer("GlobalAveragePooling2D"),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Adam", learning_rate=0.01), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    model_case("embedding_gap1d", (7,), [
        layer("Embedding", input_dim=20, output_dim=4),
        layer("GlobalAveragePooling1D"),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Adam", learning_rate=0.02), "sparse_categorical_crossentropy", ["accuracy"], "sparse",
        input_dtype="int64", vocabulary=20),
    model_case("embedding_flatten_regularized", (5,), [
        layer("Embedding", input_dim=12, output_dim=3, embeddings_regularizer={"l2": 0.01}),
        layer("Flatten"),
        layer("Dense", units=2),
    ], opt("SGD", learning_rate=0.1), "mse", ["mae"], "regression", classes=2, input_dtype="int64",
        vocabulary=12),
    model_case("layernorm_dense", (6,), [
        layer("Dense", units=8),
        layer("LayerNormalization"),
        layer("Activation", activation="gelu"),
        layer("Dense", units=8),
        layer("LayerNormalization", epsilon=0.1, center=False),
        layer("Dense", units=2),
    ], opt("RMSprop", learning_rate=0.01), "mse", ["mae"], "regression", classes=2),
    model_case("reshape_layernorm_conv1d", (12,), [
        layer("Reshape", target_shape=(4, 3)),
        layer("LayerNormalization", scale=False),
        layer("Conv1D", filters=3, kernel_size=2, activation="elu"),
        layer("Reshape", target_shape=(-1,)),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Adam", learning_rate=0.01), "categorical_crossentropy", ["accuracy"], "onehot"),
    model_case("conv1d_globalmaxpool", (12, 3), [
        layer("Conv1D", filters=4, kernel_size=3, padding="same", activation="relu"),
        layer("MaxPooling1D", pool_size=2),
        layer("Conv1D", filters=5, kernel_size=2, strides=2, dilation_rate=1),
        layer("GlobalMaxPooling1D"),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Adam", learning_rate=0.01), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    model_case("conv1d_dilated_avgpool_gap", (13, 2), [
        layer("Conv1D", filters=3, kernel_size=3, dilation_rate=2, padding="same", activation="tanh"),
        layer("AveragePooling1D", pool_size=3, strides=2, padding="same"),
        layer("Conv1D", filters=4, kernel_size=3, strides=2, padding="same", use_bias=False),
        layer("GlobalAveragePooling1D"),
        layer("Dense", units=2),
    ], opt("SGD", learning_rate=0.05), "mse", ["mae"], "regression", classes=2),
    # the new optimizers
    model_case("nadam_dense", (5,), small_dense(3, "softmax"), opt("Nadam", learning_rate=0.01),
               "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    model_case("adamax_dense", (5,), small_dense(2), opt("Adamax", learning_rate=0.02), "mse", ["mae"],
               "regression", classes=2),
    model_case("lion_dense", (5,), small_dense(1, "sigmoid"), opt("Lion", learning_rate=0.003),
               "binary_crossentropy", ["accuracy"], "binary"),
    model_case("nadam_conv", (6, 6, 1), [
        layer("Conv2D", filters=3, kernel_size=3, activation="relu"),
        layer("Flatten"),
        layer("Dense", units=3, activation="softmax"),
    ], opt("Nadam", learning_rate=0.01, beta_1=0.8), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    # learning-rate schedules (48 samples, batch 16: 3 steps an epoch, 9 steps in all)
    model_case("schedule_exponential", (5,), small_dense(2),
               opt("SGD", learning_rate=schedule("ExponentialDecay", initial_learning_rate=0.1, decay_steps=3,
                                                 decay_rate=0.5)), "mse", ["mae"], "regression", classes=2),
    model_case("schedule_exponential_staircase", (5,), small_dense(2),
               opt("Adam", learning_rate=schedule("ExponentialDecay", initial_learning_rate=0.02, decay_steps=2,
                                                  decay_rate=0.7, staircase=True)),
               "mse", ["mae"], "regression", classes=2),
    model_case("schedule_piecewise", (5,), small_dense(2),
               opt("SGD", learning_rate=schedule("PiecewiseConstantDecay", boundaries=[2, 5],
                                                 values=[0.2, 0.05, 0.01]), momentum=0.5),
               "mse", ["mae"], "regression", classes=2),
    model_case("schedule_cosine_warmup", (5,), small_dense(3, "softmax"),
               opt("Adam", learning_rate=schedule("CosineDecay", initial_learning_rate=0.0, decay_steps=6,
                                                  alpha=0.1, warmup_target=0.05, warmup_steps=3)),
               "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    model_case("schedule_cosine", (5,), small_dense(2),
               opt("SGD", learning_rate=schedule("CosineDecay", initial_learning_rate=0.1, decay_steps=5)),
               "mse", ["mae"], "regression", classes=2),
    model_case("schedule_inverse_time", (5,), small_dense(2),
               opt("RMSprop", learning_rate=schedule("InverseTimeDecay", initial_learning_rate=0.02, decay_steps=2,
                                                     decay_rate=0.5)), "mse", ["mae"], "regression", classes=2),
    # the new metrics, by Keras's string names and as objects
    model_case("metrics_binary_by_name", (5,), small_dense(1, "sigmoid"), opt("Adam", learning_rate=0.01),
               "binary_crossentropy", ["auc", "precision", "recall"], "binary"),
    model_case("metrics_binary_objects", (5,), small_dense(1, "sigmoid"), opt("Adam", learning_rate=0.01),
               "binary_crossentropy",
               [metric("AUC", curve="PR", num_thresholds=50, name="pr_auc"),
                metric("Precision", thresholds=0.3, name="precision_at_0.3"),
                metric("Recall", thresholds=0.6, name="recall_at_0.6"),
                metric("F1Score", average="micro", threshold=0.5, name="f1")], "binary"),
    model_case("metrics_categorical", (5,), small_dense(6, "softmax"), opt("Adam", learning_rate=0.01),
               "categorical_crossentropy",
               ["top_k_categorical_accuracy", metric("TopKCategoricalAccuracy", k=2, name="top2"),
                metric("F1Score", average="macro", name="macro_f1"),
                metric("AUC", multi_label=True, num_labels=6, name="multi_auc")],
               "onehot", classes=6),
    model_case("metrics_regression", (5,), small_dense(2), opt("SGD", learning_rate=0.05), "mse",
               ["root_mean_squared_error", metric("RootMeanSquaredError", name="rmse")], "regression", classes=2),
]


def keras_object(module, spec):
    config = {}
    for key, value in spec["config"].items():
        if isinstance(value, dict) and "class_name" in value:
            value = keras_object(keras.optimizers.schedules, value)
        elif key.endswith("_regularizer") and value is not None:
            value = keras.regularizers.L1L2(**value)
        elif isinstance(value, list) and key in ("target_shape", "kernel_size", "strides", "pool_size"):
            value = tuple(value)
        config[key] = value
    return getattr(module, spec["class_name"])(**config)


def make_model_data(spec, rng):
    shape = tuple(spec["input_shape"])
    k, target = spec["classes"], spec["target"]
    features = int(np.prod(shape))
    w = rng.normal(size=(features if spec["vocabulary"] is None else spec["vocabulary"], max(k, 3)))

    def draw(n):
        if spec["vocabulary"] is None:
            x = rng.normal(size=(n, *shape)).astype(np.float32)
            z = x.reshape(n, -1) @ w
        else:
            x = rng.integers(0, spec["vocabulary"], size=(n, *shape)).astype(np.int64)
            z = w[x].sum(axis=1)
        z = (z + 0.3 * rng.normal(size=z.shape)).astype(np.float32)
        z -= z.mean(axis=0)
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
    return data


def compile_metrics(spec):
    return [m if isinstance(m, str) else keras_object(keras.metrics, m) for m in spec["metrics"]]


def run_model_case(spec):
    seed = zlib.crc32(spec["name"].encode()) % (2**31)
    keras.utils.set_random_seed(seed)
    data = make_model_data(spec, np.random.default_rng(seed))
    model = keras.Sequential([keras.Input(shape=tuple(spec["input_shape"]), dtype=spec["input_dtype"])]
                             + [keras_object(keras.layers, cfg) for cfg in spec["layers"]])
    loss = spec["loss"] if isinstance(spec["loss"], str) else keras_object(keras.losses, spec["loss"])
    model.compile(optimizer=keras_object(keras.optimizers, spec["optimizer"]), loss=loss,
                  metrics=compile_metrics(spec))
    arrays = dict(data)
    arrays.update({f"init_{i}": w for i, w in enumerate(model.get_weights())})
    history = model.fit(data["x"], data["y"], batch_size=spec["batch_size"], epochs=spec["epochs"],
                        shuffle=False, verbose=0)
    arrays.update({f"final_{i}": w for i, w in enumerate(model.get_weights())})
    for key, values in history.history.items():
        arrays[f"history__{key}"] = np.asarray(values, dtype=np.float64)
    scores = model.evaluate(data["x_eval"], data["y_eval"], batch_size=spec["batch_size"], return_dict=True,
                            verbose=0)
    arrays.update({f"evaluate__{k}": np.asarray(v, dtype=np.float64) for k, v in scores.items()})
    arrays["predict"] = model.predict(data["x_eval"], batch_size=spec["batch_size"], verbose=0)
    summary = []
    for item in model.layers:
        summary.append([item.name, type(item).__name__, list(item.output.shape), item.count_params(),
                        len(item.trainable_weights), len(item.non_trainable_weights)])
    entry = dict(spec, history_keys=list(history.history), evaluate_keys=list(scores), seed=seed,
                 summary=summary, weights=len(model.get_weights()))
    return entry, arrays


METRIC_CASES = [
    ("binary", metric("AUC")), ("binary", metric("AUC", curve="PR")),
    ("binary", metric("AUC", num_thresholds=20, summation_method="minoring")),
    ("binary", metric("AUC", num_thresholds=30, summation_method="majoring")),
    ("logits", metric("AUC", from_logits=True)),
    ("multilabel", metric("AUC", multi_label=True)), ("multilabel", metric("AUC", multi_label=False)),
    ("binary", metric("Precision")), ("binary", metric("Precision", thresholds=0.3)),
    ("binary", metric("Recall")), ("binary", metric("Recall", thresholds=0.7)),
    ("multilabel", metric("Precision")), ("multilabel", metric("Recall", thresholds=0.4)),
    ("regression", metric("RootMeanSquaredError")),
    ("multilabel", metric("F1Score")), ("multilabel", metric("F1Score", average="micro")),
    ("multilabel", metric("F1Score", average="macro", threshold=0.5)),
    ("multilabel", metric("F1Score", average="weighted", threshold=0.4)),
    ("onehot", metric("F1Score", average="macro")),
    ("onehot", metric("TopKCategoricalAccuracy")), ("onehot", metric("TopKCategoricalAccuracy", k=2)),
]


def metric_batches(kind, rng):
    batches = []
    for n in (7, 9, 5):
        if kind == "regression":
            y, p = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
        elif kind in ("binary", "logits"):
            y = (rng.uniform(size=(n, 1)) > 0.5).astype(np.float32)
            p = rng.normal(size=(n, 1)) if kind == "logits" else rng.uniform(size=(n, 1))
            p = p * 0.5 + 0.25 * (kind == "binary") + 0.5 * y * (0.5 if kind == "binary" else 2)
        elif kind == "multilabel":
            y = (rng.uniform(size=(n, 4)) > 0.5).astype(np.float32)
            p = np.clip(rng.uniform(size=(n, 4)) * 0.7 + 0.3 * y, 0, 1)
        else:
            y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, n)]
            p = rng.uniform(size=(n, 6)) + y * rng.uniform(size=(n, 1))
            p = p / p.sum(axis=1, keepdims=True)
        w = rng.uniform(0.2, 2.0, size=n)
        batches.append((y.astype(np.float32), p.astype(np.float32), w.astype(np.float32)))
    return batches


def write_metric_cases(out_dir):
    entries, arrays = [], {}
    for index, (kind, spec) in enumerate(METRIC_CASES):
        batches = metric_batches(kind, np.random.default_rng(index))
        for weighted in (False, True):
            m = keras_object(keras.metrics, spec)
            results = []
            for b, (y, p, w) in enumerate(batches):
                m.update_state(y, p, sample_weight=w if weighted else None)
                results.append(np.asarray(m.result(), dtype=np.float64))
                arrays[f"{index}__y_{b}"], arrays[f"{index}__p_{b}"], arrays[f"{index}__w_{b}"] = y, p, w
            arrays[f"{index}__{'weighted' if weighted else 'plain'}"] = np.stack(results)
        entries.append({"index": index, "kind": kind, **spec, "name": m.name, "batches": len(batches)})
    np.savez(out_dir / "metrics.npz", **arrays)
    (out_dir / "metrics.json").write_text(json.dumps({"keras_version": keras.__version__, "cases": entries},
                                                     indent=1) + "\n")


SCHEDULE_CASES = [
    schedule("ExponentialDecay", initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5),
    schedule("ExponentialDecay", initial_learning_rate=0.1, decay_steps=4, decay_rate=0.9, staircase=True),
    schedule("PiecewiseConstantDecay", boundaries=[2, 5], values=[0.2, 0.05, 0.01]),
    schedule("PiecewiseConstantDecay", boundaries=[3], values=[1.0, 0.5]),
    schedule("CosineDecay", initial_learning_rate=0.1, decay_steps=10),
    schedule("CosineDecay", initial_learning_rate=0.1, decay_steps=10, alpha=0.2),
    schedule("CosineDecay", initial_learning_rate=0.0, decay_steps=8, warmup_target=0.05, warmup_steps=4),
    schedule("CosineDecay", initial_learning_rate=0.01, decay_steps=6, alpha=0.1, warmup_target=0.1,
             warmup_steps=3),
    schedule("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5),
    schedule("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=3, decay_rate=1.5, staircase=True),
]


def write_schedule_cases(out_dir):
    entries = []
    for spec in SCHEDULE_CASES:
        s = keras_object(keras.optimizers.schedules, spec)
        values = [float(keras.ops.convert_to_numpy(s(step))) for step in range(20)]
        entries.append({**spec, "values": values})
    (out_dir / "schedules.json").write_text(json.dumps({"keras_version": keras.__version__, "cases": entries},
                                                       indent=1) + "\n")


def write_model_cases(out_dir):
    (out_dir / "models").mkdir(exist_ok=True)
    entries = []
    for spec in MODEL_CASES:
        entry, arrays = run_model_case(spec)
        np.savez(out_dir / "models" / f"{spec['name']}.npz", **arrays)
        entries.append(entry)
        print(f"{spec['name']}: history {entry['history_keys']}", file=sys.stderr)
    manifest = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": entries}
    (out_dir / "models.json").write_text(json.dumps(manifest, indent=1) + "\n")


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--scenario", help="run one lifecycle scenario, print JSON (internal)")
    parser.add_argument("--part", choices=["all", "dense", "lifecycle", "models", "metrics", "schedules"],
                        default="all", help="write only these fixtures")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario)))
        return
    parts = {"dense": write_cases, "lifecycle": write_lifecycle, "models": write_model_cases,
             "metrics": write_metric_cases, "schedules": write_schedule_cases}
    for name, write in parts.items():
        if args.part in ("all", name):
            write(args.out)


if __name__ == "__main__":
    main()

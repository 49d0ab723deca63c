"""Sequential: a stack of layers, compiled with an optimizer, a loss and metrics.

Two faces. The public per-batch API (`train_on_batch`, `test_on_batch`, `predict_on_batch`)
validates its arguments on every call and returns results as Keras 3 does. Under it, the core
that a training loop drives once per batch (`_train_step`, `_test_step`, `_predict_step`) takes
arrays already checked by `_validate_data` (called once per fit) and does no checking of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer import activations, losses, optimizers
from trainer import layers as layers_module
from trainer import metrics as metrics_module
from trainer.layers.activation import Activation
from trainer.layers.dense import Dense
from trainer.layers.input_layer import InputLayer
from trainer.layers.layer import Layer, Shape, check_weights_fit
from trainer.losses import Loss  # by name: in Sequential's body the `losses` property hides the module
from trainer.names import unique_name
from trainer.serialization import deserialize, serialize
from trainer.stop_flag import StopTrainingFlag
from trainer.summary import format_summary
from trainer.training import Trainer
from trainer.validation import Batch, DataSpec, validate_data, validate_inputs

__all__ = ["Sequential"]

Logs = dict[str, float]


class Sequential(Trainer):
    """Layers applied in order. Keras 3's names: `add`, `compile`, `fit`, `evaluate`, `predict`, ..."""

    stop_training = StopTrainingFlag()

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None) -> None:
        self.name = name or unique_name("sequential")
        self.stop_training = False
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self._input: InputLayer | None = None
        self._layers: list[Layer] = []
        self._metric_identifiers: list[Any] = []
        self._weighted_identifiers: list[Any] = []
        self._compiled_metrics: list[metrics_module.Metric] | None = None
        self._metrics_by_name: list[metrics_module.Metric] | None = None  # metrics sorted, once fixed
        self._weighted_metrics: list[metrics_module.Metric] | None = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._prepared = False
        for layer in layers or []:
            self.add(layer)

    # ----- structure

    def add(self, layer: Layer) -> None:
        """Append a layer (an InputLayer only first); builds it at once when the input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a trainer layer, got {type(layer).__name__}: {layer!r}.")
        if isinstance(layer, InputLayer):
            if self._input is not None or self._layers:
                raise ValueError("An Input can only be the first layer of a Sequential model.")
            self._input = layer
            return
        if any(existing is layer or existing.name == layer.name for existing in self._layers):
            raise ValueError(f"The model already has a layer named {layer.name!r}; layer names must be unique.")
        if self.built:
            self._build_layer(layer, self.output_shape)
        self._layers.append(layer)
        self._prepared = False

    @property
    def layers(self) -> list[Layer]:
        """The layers after the input, as Keras lists them."""
        return list(self._layers)

    @property
    def built(self) -> bool:
        return self._input is not None and all(layer.built for layer in self._layers)

    def build(self, input_shape: Shape) -> None:
        """Fix the per-batch input shape `(None, *features)` and create every layer's weights."""
        if self._input is None:
            self._input = InputLayer(shape=tuple(input_shape[1:]))  # type: ignore[arg-type]
        shape = self._input.output_shape
        for layer in self._layers:
            if not layer.built:
                self._build_layer(layer, shape)
            shape = layer.output_shape

    @staticmethod
    def _build_layer(layer: Layer, input_shape: Shape) -> None:
        if layer.built and layer.input_shape != input_shape:
            raise ValueError(f"Layer {layer.name!r} was built for input {layer.input_shape}, not {input_shape}.")
        if not layer.built:
            layer.build(input_shape)

    @property
    def input_shape(self) -> Shape:
        if self._input is None:
            raise ValueError(f"Model {self.name!r} has no input shape yet: start it with trainer.Input(shape=...).")
        return self._input.output_shape

    @property
    def output_shape(self) -> Shape:
        shape = self.input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # ----- weights

    @property
    def weights(self) -> list[np.ndarray]:
        """The live weight arrays of every layer, in order (each Dense: kernel, then bias), trainable or not."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, in Keras's order."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Replace all weights; the count and every shape are checked first, so a mismatch changes nothing."""
        check_weights_fit(f"Model {self.name!r}", [w.shape for w in self.weights], weights)
        for target, value in zip(self.weights, weights):
            target[...] = value

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self._layers)

    @property
    def losses(self) -> list[np.float32]:
        """The regularization penalties of every layer on the current weights."""
        return [penalty for layer in self._layers for penalty in layer.losses]

    # ----- compile and metrics

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "rmsprop",
        loss: str | Loss | Callable[..., np.ndarray] | None = None,
        metrics: list[Any] | None = None,
        weighted_metrics: list[Any] | None = None,
        steps_per_execution: int = 1,
    ) -> None:
        """Set the optimizer, loss and metrics (names or objects); every name is checked now.

        As in Keras 3, `metrics` ignore sample weights and `weighted_metrics` use them.
        `steps_per_execution` batches run between two calls of the batch hooks.
        """
        if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) or steps_per_execution < 1:
            raise ValueError(f"steps_per_execution must be a positive integer; got {steps_per_execution!r}")
        if loss is None:
            raise ValueError("compile needs a `loss`, e.g. loss='mse' or loss='sparse_categorical_crossentropy'.")
        resolved_loss = losses.get(loss)
        if resolved_loss.reduction == "none":
            raise ValueError("A loss with reduction='none' cannot be trained on; use the default reduction.")
        for argument, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple)):
                raise TypeError(f"`{argument}` must be a list, got {type(value).__name__}.")
        identifiers = list(metrics or [])
        weighted = list(weighted_metrics or [])
        for identifier in identifiers + weighted:
            if not _is_accuracy(identifier):
                metric = metrics_module.get(identifier)  # raises early, with a suggestion, for unknown names
                if not getattr(metric, "scalar", True):
                    raise ValueError(
                        f"Metric {metric.name!r} gives one value per class or threshold, and logs hold numbers: "
                        "give it one threshold, or an `average` ('micro', 'macro' or 'weighted')."
                    )
        self.optimizer = optimizers.get(optimizer)
        self.loss = resolved_loss
        self.steps_per_execution = steps_per_execution
        self._metric_identifiers = identifiers
        self._weighted_identifiers = weighted
        self._compiled_metrics = None
        self._weighted_metrics = None
        self._metrics_by_name = None
        self._prepared = False

    @property
    def compiled(self) -> bool:
        return self.loss is not None

    @property
    def metrics_names(self) -> list[str]:
        """The logs keys in the order `train_on_batch` returns values: "loss", then each metric."""
        plain = [_metric_name(identifier) for identifier in self._metric_identifiers]
        # Keras prefixes a weighted metric's name only where it would collide with a plain one.
        weighted = [_metric_name(i) for i in self._weighted_identifiers]
        return ["loss", *plain, *(f"weighted_{name}" if name in plain else name for name in weighted)]

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The loss tracker and the compiled metrics (once the first batch has fixed them)."""
        return [self._loss_tracker, *(self._compiled_metrics or []), *(self._weighted_metrics or [])]

    def reset_metrics(self) -> None:
        """Restart every running mean (the loop calls this at the start of each epoch)."""
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> Logs:
        """The running means as floats, keys sorted as Keras 3 hands logs to callbacks."""
        # The order is worked out once the metrics are fixed: batch logs are made at every step.
        by_name = self._metrics_by_name
        if by_name is None:
            by_name = sorted(self.metrics, key=lambda m: m.name)
            if self._compiled_metrics is not None:
                self._metrics_by_name = by_name
        return {metric.name: metric._logs_value() for metric in by_name}

    # ----- data

    def _data_spec(self) -> DataSpec:
        if self.loss is None:
            raise RuntimeError("You must call compile() before training or evaluating the model.")
        return DataSpec(self.input_shape[1:], self.output_shape[1:], self.loss.sparse_labels, self._input_dtype)

    def _validate_data(
        self, x: Any, y: Any, sample_weight: Any = None, class_weight: dict[int, float] | None = None
    ) -> Batch:
        """Check and convert data once, then make the model ready for `_train_step`/`_test_step`.

        Builds the model from `x` if it has no Input yet and fixes "accuracy" from the shapes.
        """
        self._build_from(x)
        batch = validate_data(x, y, sample_weight, class_weight, self._data_spec())
        self._prepare(np.shape(y))
        return batch

    def _build_from(self, x: Any) -> None:
        if self._input is None:
            shape = np.shape(x)
            if len(shape) < 2:
                raise ValueError(f"`x` must have a batch axis and features, got shape {shape}.")
            self.build((None, *shape[1:]))

    def _prepare(self, y_shape: tuple[int, ...]) -> None:
        if self._compiled_metrics is None:
            y_pred_shape = self.output_shape
            names = self.metrics_names[1:]
            compiled = [
                metrics_module.resolve_accuracy(name, y_shape, y_pred_shape) if _is_accuracy(i) else _fresh_metric(i)
                for name, i in zip(names, self._metric_identifiers + self._weighted_identifiers)
            ]
            for name, metric in zip(names, compiled):
                metric.name = name
            self._compiled_metrics = compiled[: len(self._metric_identifiers)]
            self._weighted_metrics = compiled[len(self._metric_identifiers) :]
        if self._prepared:
            return
        if not self._layers:
            raise ValueError("The model has no layers to train; add some with model.add(...).")
        last = self._layers[-1]
        softmax_head = isinstance(last, (Dense, Activation)) and last.activation is activations.softmax
        self._fused_softmax = softmax_head and self.loss is not None and self.loss.fuses_softmax
        self._trainable_layers = [layer for layer in self._layers if layer.trainable]
        self._trainable = [w for layer in self._trainable_layers for w in layer.trainable_weights]
        self._regularized = [layer for layer in self._layers if layer.losses]
        self._prepared = True

    # ----- the core, one batch at a time, on validated arrays

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self._layers:
            x = layer.forward(x, training)
        return x

    def _backward(self, grad: np.ndarray) -> None:
        layers = self._layers
        last = len(layers) - 1
        grad_inputs: np.ndarray | None
        if self._fused_softmax:
            grad_inputs = layers[last].backward_from_pre_activation(grad, last > 0)  # type: ignore[attr-defined]
        else:
            grad_inputs = layers[last].backward(grad, last > 0)
        for index in range(last - 1, -1, -1):
            assert grad_inputs is not None  # only the first layer, called last, is asked for none
            grad_inputs = layers[index].backward(grad_inputs, index > 0)

    def _total_loss(
        self, y: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None, values: np.ndarray | None = None
    ) -> np.float32:
        """The reduced loss plus the penalties; ``values``, if given, are ``loss.call(y, y_pred)``."""
        loss = self.loss
        if values is None:
            values = loss.call(y, y_pred)  # type: ignore[union-attr]
        value = losses.reduce_values(values, sample_weight, loss.reduction)  # type: ignore[union-attr]
        for layer in self._regularized:
            for penalty in layer.losses:
                value = np.float32(value + penalty)
        return value

    def _train_step(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """Forward, backward and one optimizer step on a validated batch; updates the running means."""
        y_pred = self._forward(x, training=True)
        n = len(x)
        loss = self.loss
        values = None
        if self._fused_softmax:
            values, grad = loss.softmax_values_and_gradient(y, y_pred)  # type: ignore[union-attr]
        else:
            grad = loss.gradient(y, y_pred)  # type: ignore[union-attr]
        scale = losses.reduction_weights(sample_weight, n, loss.reduction)  # type: ignore[union-attr]
        grad *= scale if scale.ndim == 0 else scale.reshape((n,) + (1,) * (grad.ndim - 1))  # np.ndim() costs more
        total = self._total_loss(y, y_pred, sample_weight, values)  # penalties on the weights before the step, as Keras
        self._backward(grad)
        self.optimizer.apply([g for layer in self._trainable_layers for g in layer.gradients], self._trainable)  # type: ignore[union-attr]
        self._update_metrics(total, n, y, y_pred, sample_weight)

    def _test_step(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """Forward in inference mode on a validated batch; updates the running means."""
        y_pred = self._forward(x, training=False)
        self._update_metrics(self._total_loss(y, y_pred, sample_weight), len(x), y, y_pred, sample_weight)

    def _predict_step(self, x: np.ndarray) -> np.ndarray:
        """The model's outputs for a validated batch, in inference mode."""
        return self._forward(x, training=False)

    def _update_metrics(
        self, loss: np.float32, n: int, y: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None
    ) -> None:
        # Keras weights the loss tracker by batch size, not by sample_weight.
        self._loss_tracker.add_weighted(loss, n)
        for metric in self._compiled_metrics:  # type: ignore[union-attr]
            metric.update_state(y, y_pred)
        for metric in self._weighted_metrics:  # type: ignore[union-attr]
            metric.update_state(y, y_pred, sample_weight)

    # ----- the public per-batch API

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | Logs:
        """One gradient step on one batch. As in Keras 3 the metrics are reset first, so the result
        describes this batch alone: a dict if `return_dict`, else [loss, *metrics] (a float if only loss)."""
        x, y, sample_weight = self._validate_data(x, y, sample_weight, class_weight)
        assert y is not None  # validate_data requires targets
        self.reset_metrics()
        self._train_step(x, y, sample_weight)
        return self._results(return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | Logs:
        """Loss and metrics of one batch in inference mode (metrics reset first, as in Keras 3)."""
        x, y, sample_weight = self._validate_data(x, y, sample_weight)
        assert y is not None  # validate_data requires targets
        self.reset_metrics()
        self._test_step(x, y, sample_weight)
        return self._results(return_dict)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The outputs for one batch, in inference mode, as a float32 array."""
        return self._predict_step(self._validate_inputs(x))

    def _validate_inputs(self, x: Any) -> np.ndarray:
        """Inputs of the model's input dtype that fit it, building it from `x` if it has no Input yet."""
        self._build_from(x)
        return validate_inputs(x, DataSpec(self.input_shape[1:], (), False, self._input_dtype))

    @property
    def _input_dtype(self) -> str:
        return self._input.dtype if self._input is not None else "float32"

    def _results(self, return_dict: bool) -> float | list[float] | Logs:
        logs = self.get_metrics_result()
        if return_dict:
            return logs
        ordered = [logs[name] for name in self.metrics_names]
        return ordered[0] if len(ordered) == 1 else ordered

    # ----- description, config and files

    def summary(
        self, line_length: int | None = None, positions: list[float] | None = None, print_fn: Callable[[str], Any] | None = None
    ) -> None:
        """Print a Keras-style table of layers, output shapes and parameter counts (to `print_fn` if given)."""
        text = format_summary(self, line_length=line_length, positions=positions)
        (print_fn or print)(text)

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-ready data (InputLayer first)."""
        stack = ([self._input] if self._input is not None else []) + self._layers
        return {"name": self.name, "layers": [layers_module.serialize(layer) for layer in stack]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """Rebuild from `get_config()`; only the known layer classes are instantiated."""
        return cls([layers_module.deserialize(layer) for layer in config.get("layers", [])], name=config.get("name"))

    def get_compile_config(self) -> dict[str, Any] | None:
        """The compile arguments as JSON-ready data, or None if not compiled."""
        if not self.compiled:
            return None
        return {
            "optimizer": serialize(self.optimizer),
            "loss": serialize(self.loss),
            "metrics": [_metric_config(i) for i in self._metric_identifiers],
            "weighted_metrics": [_metric_config(i) for i in self._weighted_identifiers],
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile from `get_compile_config()` output; only known classes are instantiated."""
        self.compile(
            optimizer=deserialize("optimizer", config["optimizer"]),
            loss=deserialize("loss", config["loss"]),
            metrics=[_metric_from_config(m) for m in config.get("metrics") or []],
            weighted_metrics=[_metric_from_config(m) for m in config.get("weighted_metrics") or []],
            steps_per_execution=int(config.get("steps_per_execution", 1)),
        )

    def save_weights(self, filepath: str) -> None:
        """Write the weights to `filepath` (suffix `.weights.npz`) atomically; see trainer.saving."""
        from trainer.saving import save_weights  # deferred: saving imports this module

        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        """Read weights written by `save_weights`; a file that does not fit leaves the model unchanged."""
        from trainer.saving import load_weights  # deferred: saving imports this module

        load_weights(self, filepath)

    def save(self, filepath: str) -> None:
        """Write architecture, weights, compile settings and optimizer state (suffix `.model.npz`)."""
        from trainer.saving import save_model  # deferred: saving imports this module

        save_model(self, filepath)


def _is_accuracy(identifier: Any) -> bool:
    return isinstance(identifier, str) and identifier.lower() in metrics_module.ACCURACY_NAMES


def _fresh_metric(identifier: Any) -> metrics_module.Metric:
    """A metric with empty state; a Metric object given to compile is used as is, as in Keras."""
    return metrics_module.get(identifier)


def _metric_config(identifier: Any) -> str | dict[str, Any] | None:
    return identifier if isinstance(identifier, str) else serialize(_fresh_metric(identifier))


def _metric_from_config(config: Any) -> Any:
    return config if isinstance(config, str) else deserialize("metric", config)


def _metric_name(identifier: Any) -> str:
    return identifier if isinstance(identifier, str) else _fresh_metric(identifier).name

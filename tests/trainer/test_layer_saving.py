"""Models of the new layers, optimizers, schedules and metrics save and load whole; a user's own
Layer subclass saves and loads by its registered name, and a file naming any other class is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer
from trainer import initializers, layers, metrics, optimizers, saving
from trainer.optimizers import schedules


def image_model() -> trainer.Sequential:
    trainer.set_random_seed(1)
    model = trainer.Sequential([
        trainer.Input(shape=(6, 6, 2)),
        layers.Conv2D(4, 3, padding="same", kernel_initializer=initializers.Orthogonal(gain=0.5, seed=2)),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D(),
        layers.AveragePooling2D(pool_size=1),
        layers.Reshape((3, 12)),
        layers.Conv1D(3, 2, kernel_initializer="lecun_normal", bias_initializer=initializers.Constant(0.1)),
        layers.LayerNormalization(),
        layers.GlobalMaxPooling1D(),
        layers.Dense(3, activation="softmax", kernel_initializer="he_uniform"),
    ])  # fmt: skip
    lr = schedules.CosineDecay(0.0, decay_steps=5, warmup_target=0.01, warmup_steps=2)
    model.compile(optimizer=optimizers.Nadam(learning_rate=lr), loss="categorical_crossentropy",
                  metrics=["accuracy", metrics.AUC(name="auc"), metrics.TopKCategoricalAccuracy(k=2)])
    return model


def test_a_model_of_every_new_kind_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 6, 6, 2)).astype(np.float32), np.eye(3)[rng.integers(0, 3, 20)]
    model = image_model()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "m.model.npz"
    model.save(path)
    loaded = trainer.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert loaded.get_config()["layers"][1:] == model.get_config()["layers"][1:]
    assert isinstance(loaded.optimizer.schedule, schedules.CosineDecay)
    assert loaded.optimizer.u_product == model.optimizer.u_product != 1  # Nadam's own state came back
    assert loaded.metrics_names == model.metrics_names == ["loss", "accuracy", "auc", "top_k_categorical_accuracy"]
    assert set(loaded.evaluate(x, y, verbose=0, return_dict=True)) == set(loaded.metrics_names)
    # Moving statistics are weights, saved and restored, and the next step is identical.
    np.testing.assert_array_equal(loaded.layers[1].moving_variance, model.layers[1].moving_variance)
    assert not np.all(model.layers[1].moving_variance == 1)
    for m in (model, loaded):
        m.train_on_batch(x[:8], y[:8])
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_integer_inputs_feed_an_embedding_and_round_trip(tmp_path: Path) -> None:
    model = trainer.Sequential([trainer.Input(shape=(5,), dtype="int64"), layers.Embedding(10, 3),
                                layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile(optimizer=optimizers.Adamax(), loss="mse")
    x = np.arange(20).reshape(4, 5) % 10
    model.fit(x, np.ones((4, 1)), verbose=0)
    model.save(tmp_path / "e.model.npz")
    loaded = trainer.load_model(tmp_path / "e.model.npz")
    assert loaded.get_config()["layers"][0]["config"]["dtype"] == "int64"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="whole numbers for an Input of dtype int64"):
        model.predict(x + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"indices in \[0, 10\), got \[10, 10"):
        model.predict(np.full((1, 5), 10), verbose=0)


@saving.register_serializable(package="tests")
class Scale(layers.Layer):
    """A user's layer: outputs = inputs * factor, with one trainable weight per feature."""

    def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape: layers.layer.Shape) -> None:
        self.scale = np.full((input_shape[-1],), self.factor, np.float32)
        self._grad = np.zeros_like(self.scale)
        super().build(input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._inputs = inputs
        return inputs * self.scale

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        self._grad[...] = (grad_outputs * self._inputs).sum(axis=0)
        return grad_outputs * self.scale if need_input_grad else None

    @property
    def weights(self) -> list[np.ndarray]:
        return [self.scale] if self.built else []

    @property
    def gradients(self) -> list[np.ndarray]:
        return [self._grad] if self.built else []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class Unregistered(Scale):
    pass


def test_a_registered_layer_saves_and_loads_by_name(tmp_path: Path) -> None:
    model = trainer.Sequential([trainer.Input(shape=(3,)), Scale(0.5), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    assert model.get_config()["layers"][1]["class_name"] == "tests>Scale"
    model.save(tmp_path / "s.model.npz")
    loaded = trainer.load_model(tmp_path / "s.model.npz")
    assert isinstance(loaded.layers[0], Scale) and loaded.layers[0].factor == 0.5
    np.testing.assert_array_equal(loaded.layers[0].scale, model.layers[0].scale)
    assert not np.all(model.layers[0].scale == 0.5)  # it trained


def test_an_unregistered_layer_is_refused_when_saving_and_when_loading(tmp_path: Path) -> None:
    model = trainer.Sequential([trainer.Input(shape=(3,)), Unregistered(), layers.Dense(2)])
    with pytest.raises(TypeError, match="Unregistered is not a registered layer class.*register_serializable"):
        model.save(tmp_path / "u.model.npz")
    # A file that names a class no one registered (here: a crafted one) builds nothing.
    good = trainer.Sequential([trainer.Input(shape=(3,)), Scale(), layers.Dense(2)])
    contents = saving.model_contents(good)
    header = json.loads(str(contents["trainer_header"][()]))
    header["config"]["layers"][1]["class_name"] = "os>system"
    contents["trainer_header"] = np.array(json.dumps(header))
    saving.write_contents(tmp_path / "crafted.model.npz", contents)
    with pytest.raises(ValueError, match="Unknown layer class: 'os>system'"):
        trainer.load_model(tmp_path / "crafted.model.npz")


def test_registration_is_checked_and_a_name_registered_again_takes_the_new_class() -> None:
    saving.register_serializable(package="tests", name="Again")(Unregistered)
    saving.register_serializable(package="tests", name="Again")(Scale)
    assert layers.CLASSES["tests>Again"] is Scale
    with pytest.raises(TypeError, match="registers trainer Layer subclasses"):
        saving.register_serializable()(dict)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="without '>'"):
        saving.register_serializable(package="a>b")
    assert saving.register_serializable(package="tests")(Scale) is Scale  # the same class again is fine


def test_a_config_that_is_not_json_is_refused_at_save(tmp_path: Path) -> None:
    model = trainer.Sequential([trainer.Input(shape=(3,)), Scale(factor=np.float32(2)), layers.Dense(1)])
    with pytest.raises(TypeError, match="not JSON-ready"):
        model.save(tmp_path / "j.model.npz")

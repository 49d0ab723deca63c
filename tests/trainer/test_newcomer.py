"""What a new user stumbles on first: function metrics and losses, messages, the package's metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trainer
from trainer import layers

REPOSITORY = Path(__file__).resolve().parents[2]


def model(**compile_kwargs: object) -> trainer.Sequential:
    trainer.set_random_seed(0)
    built = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(1)])
    built.compile(**{"optimizer": "sgd", "loss": "mse", **compile_kwargs})
    return built


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((20, 3)).astype(np.float32), rng.random((20, 1)).astype(np.float32)


def test_a_plain_function_metric_is_the_running_mean_of_its_values_named_after_it() -> None:
    def absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    x, y = data()
    ours = model(metrics=[absolute_error, "mae"]).fit(x, y, batch_size=6, epochs=3, verbose=0)
    assert ours.history["absolute_error"] == pytest.approx(ours.history["mae"], rel=1e-6)
    results = model(metrics=[absolute_error]).evaluate(x, y, verbose=0, return_dict=True)
    assert set(results) == {"loss", "absolute_error"}  # type: ignore[arg-type]


def test_a_metric_class_instead_of_an_instance_says_to_call_it() -> None:
    with pytest.raises(TypeError, match=r"call it: MeanSquaredError\(\)"):
        model(metrics=[trainer.metrics.MeanSquaredError])


def test_a_plain_function_loss_explains_the_gradient_and_names_the_loss_subclass() -> None:
    def my_loss(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    with pytest.raises(TypeError, match="'my_loss' is a plain function.*no gradient.*Subclass trainer.losses.Loss"):
        model(loss=my_loss)


def test_an_unknown_loss_lists_the_known_losses_spelt_right() -> None:
    with pytest.raises(ValueError, match="Known losses: ") as raised:
        model(loss="msee")
    assert "losss" not in str(raised.value)


@pytest.mark.parametrize("content", [b"garbage, not a zip", b"\x80\x04\x95 pickled-looking"])
def test_a_corrupt_model_file_is_refused_without_suggesting_allow_pickle(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable trainer file") as raised:
        trainer.load_model(path)
    assert "allow_pickle" not in str(raised.value)


def test_a_file_holding_pickled_objects_is_refused_without_suggesting_allow_pickle(tmp_path: Path) -> None:
    path = tmp_path / "objects.model.npz"
    np.savez(path, header=np.array([{"kind": "model"}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects") as raised:
        trainer.load_model(path)
    assert "allow_pickle" not in str(raised.value)


def test_the_license_file_is_the_mit_license_the_metadata_names() -> None:
    assert 'license = "MIT"' in (REPOSITORY / "pyproject.toml").read_text()
    assert (REPOSITORY / "LICENSE").read_text().startswith("MIT License")


def test_the_version_is_the_installed_distribution_s() -> None:
    from importlib.metadata import version

    assert trainer.__version__ == version("eventbus-trainer")
    assert trainer.__version__[0].isdigit()


def test_a_list_of_batches_is_refused_with_a_hint_at_generators() -> None:
    x, y = data()
    with pytest.raises(ValueError, match="a list of \\(x, y\\) batches\\? Pass a generator of them, or a PyDataset"):
        model().fit([(x[:10], y[:10]), (x[10:], y[10:])], verbose=0)

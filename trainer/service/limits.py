"""What one job may cost: checked on the job's built model and data before it is accepted."""

from __future__ import annotations

import dataclasses

from trainer.jobs import TrainingSpec

from .problems import Detail

__all__ = ["JobLimits"]


@dataclasses.dataclass(frozen=True)
class JobLimits:
    """``max_params``: weights of the model; ``max_sample_epochs``: training samples times epochs,
    the work a job asks for (its backup holds about three times the model's weights)."""

    max_params: int = 2_000_000
    max_sample_epochs: int = 50_000_000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive integer; got {value!r}")

    def problems(self, spec: TrainingSpec) -> list[Detail]:
        """What in ``spec`` passes a limit, each naming it (empty if none does)."""
        found: list[Detail] = []
        params = spec.model.count_params()
        if params > self.max_params:
            found.append(_passes("the model", f"has {params:,} weights", "max_params", self.max_params))
        samples = _samples(spec.x)
        if samples is None:
            found.append({"field": "params", "reason": "the job's data has no length, so its cost cannot be told"})
        elif samples * spec.epochs > self.max_sample_epochs:
            work = f"asks for {samples:,} samples x {spec.epochs:,} epochs = {samples * spec.epochs:,}"
            found.append(_passes("the job", work, "max_sample_epochs", self.max_sample_epochs))
        return found


def _passes(what: str, measure: str, limit: str, value: int) -> Detail:
    return {"field": "params", "reason": f"{what} {measure}, more than the service's {limit} ({value:,})"}


def _samples(x: object) -> int | None:
    shape = getattr(x, "shape", None)
    if shape:
        return int(shape[0])
    try:
        return len(x)  # type: ignore[arg-type]
    except TypeError:
        return None

"""What the service knows of a job, as it answers it and as it stores it."""

from __future__ import annotations

import dataclasses
from typing import Any

from trainer.jobs import JobStatus

__all__ = ["ServiceJob"]


@dataclasses.dataclass
class ServiceJob:
    """A job of the service, alive or from an earlier life of the process; the journal keeps it current.

    ``epoch`` and ``logs`` are those of the last epoch that ended; ``epochs`` the number planned;
    ``backup`` is False once the job's backup was deleted (pruned under the disk quota), after which
    it can no longer be resumed. Times are seconds since the Unix epoch.
    """

    id: str
    name: str
    template: str
    params: dict[str, Any]
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 1
    epoch: int | None = None
    epochs: int | None = None
    logs: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    submitted_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    worker: dict[str, Any] | None = None
    backup: bool = True

    def record(self) -> dict[str, Any]:
        """The job as the API answers it and the store keeps it (a new dict; ``params``, ``logs`` and
        ``worker`` are shared, not copied: JSON values that are replaced, never changed in place)."""
        record = {field.name: getattr(self, field.name) for field in _FIELDS}
        record["status"] = self.status.value
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ServiceJob:
        """The job :meth:`record` describes (as the store keeps it)."""
        return cls(**{**record, "status": JobStatus(record["status"])})


_FIELDS = dataclasses.fields(ServiceJob)

"""The states a training job goes through."""

from __future__ import annotations

import enum

__all__ = ["JobStatus"]


class JobStatus(str, enum.Enum):
    """Where a job is: ``queued`` (waiting for a training slot), ``running``, then one of the
    finished states ``completed``, ``failed`` or ``cancelled``. A failed or cancelled job may be
    resumed, which queues it again."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job has stopped training (for now: failed and cancelled ones can be resumed)."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def resumable(self) -> bool:
        return self in (JobStatus.FAILED, JobStatus.CANCELLED)

"""What the job manager raises when asked for something it cannot do; each names the job."""

from __future__ import annotations

__all__ = ["JobLimitError", "JobStateError", "UnknownJobError", "WorkerDiedError"]


class UnknownJobError(KeyError):
    """No job has this id (a :class:`KeyError`, so ``except KeyError`` catches it too)."""

    def __init__(self, job_id: object) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"unknown job {self.job_id!r}"


class JobStateError(RuntimeError):
    """The job is not in a state that allows it: resuming a running job, cancelling a completed one."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(f"job {job_id!r} {message}")
        self.job_id = job_id


class JobLimitError(RuntimeError):
    """As many jobs as the manager allows are already waiting for a training slot; nothing was queued."""


class WorkerDiedError(RuntimeError):
    """The process a job trained in died under it (killed, out of memory, its machine lost); the job
    failed, and can be resumed from its backup."""

"""What the service keeps of finished jobs: a count, an age, and a disk quota for their backups."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from trainer.jobs import JobStatus

from .records import ServiceJob

__all__ = ["Retention", "backup_size"]


@dataclasses.dataclass(frozen=True)
class Retention:
    """``keep_finished`` finished jobs at most, none older than ``max_age_days`` (by when they
    finished); the backups of cancelled and failed jobs (kept so they can be resumed) in
    ``backup_quota_bytes`` at most, the backups of the jobs that finished first pruned first."""

    keep_finished: int = 1000
    max_age_days: float = 30.0
    backup_quota_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if isinstance(self.keep_finished, bool) or not isinstance(self.keep_finished, int) or self.keep_finished < 1:
            raise ValueError(f"keep_finished must be a positive integer; got {self.keep_finished!r}")
        if not isinstance(self.max_age_days, (int, float)) or not self.max_age_days > 0:
            raise ValueError(f"max_age_days must be a positive number; got {self.max_age_days!r}")
        if isinstance(self.backup_quota_bytes, bool) or not isinstance(self.backup_quota_bytes, int) or self.backup_quota_bytes < 0:
            raise ValueError(f"backup_quota_bytes must be a non-negative integer; got {self.backup_quota_bytes!r}")

    def expired(self, jobs: Sequence[ServiceJob], now: float) -> list[str]:
        """The finished jobs to forget: past the age, or past the count (those that finished first)."""
        finished = sorted((job for job in jobs if job.status.finished), key=_finish_time)
        too_many = len(finished) - self.keep_finished
        oldest = now - self.max_age_days * 86_400
        return [job.id for index, job in enumerate(finished) if index < too_many or _finish_time(job) < oldest]

    def over_quota(self, jobs: Sequence[ServiceJob], sizes: Mapping[str, int]) -> list[str]:
        """The resumable jobs whose backups to prune, those that finished first first, so that
        the others' backups fit in the quota."""
        kept = sorted((job for job in jobs if job.status in _RESUMABLE and job.backup), key=_finish_time)
        total = sum(sizes.get(job.id, 0) for job in kept)
        pruned = []
        for job in kept:
            if total <= self.backup_quota_bytes:
                break
            total -= sizes.get(job.id, 0)
            pruned.append(job.id)
        return pruned


_RESUMABLE = (JobStatus.CANCELLED, JobStatus.FAILED)


def _finish_time(job: ServiceJob) -> float:
    return job.finished_at or job.submitted_at


def backup_size(directory: str) -> int:
    """Bytes of the files under ``directory`` (0 if there is none)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # removed meanwhile
    return total

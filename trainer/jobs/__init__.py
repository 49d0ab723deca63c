"""Training jobs for a long-running anyio application: many runs on one event loop and one bus.

``async with JobManager(max_concurrent=2) as jobs:`` then ``job = jobs.submit(build)``, where
``build()`` returns a :class:`TrainingSpec` (a compiled model and its fit arguments). Jobs can be
listed, followed (:meth:`JobManager.follow`), cancelled and resumed from their backup.
"""

from .errors import JobLimitError, JobStateError, UnknownJobError
from .event_stream import JobEventStream
from .events import JobStatusChanged, Level, level_types, of_job
from .job import Job
from .manager import MIN_FOLLOW_MAXSIZE, JobManager
from .records import event_record, job_record
from .spec import Build, TrainingSpec
from .status import JobStatus

__all__ = [
    "MIN_FOLLOW_MAXSIZE",
    "Build",
    "Job",
    "JobEventStream",
    "JobLimitError",
    "JobManager",
    "JobStateError",
    "JobStatus",
    "JobStatusChanged",
    "Level",
    "TrainingSpec",
    "UnknownJobError",
    "event_record",
    "job_record",
    "level_types",
    "of_job",
]

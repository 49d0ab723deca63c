"""Training jobs for a long-running anyio application: many runs on one event loop and one bus.

``async with JobManager(max_concurrent=2) as jobs:`` then ``job = jobs.submit(build)``, where
``build()`` returns a :class:`TrainingSpec` (a compiled model and its fit arguments). Jobs can be
listed, followed (:meth:`JobManager.follow`), cancelled and resumed from their backup. They train
in this process by default, or each in a Ray actor: ``JobManager(executor=RayExecutor())``.
"""

from .errors import JobLimitError, JobStateError, UnknownJobError, WorkerDiedError
from .event_stream import JobEventStream
from .events import JobStatusChanged, Level, level_types, of_job
from .executor import Executor, InProcessExecutor
from .job import Job
from .manager import MIN_FOLLOW_MAXSIZE, JobManager
from .ray_executor import RayExecutor
from .records import event_record, job_record
from .spec import Build, TrainingSpec
from .status import JobStatus

__all__ = [
    "MIN_FOLLOW_MAXSIZE",
    "Build",
    "Executor",
    "InProcessExecutor",
    "Job",
    "JobEventStream",
    "JobLimitError",
    "JobManager",
    "JobStateError",
    "JobStatus",
    "JobStatusChanged",
    "Level",
    "RayExecutor",
    "TrainingSpec",
    "UnknownJobError",
    "WorkerDiedError",
    "event_record",
    "job_record",
    "level_types",
    "of_job",
]

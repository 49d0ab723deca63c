"""The training service: job templates served over HTTP, durable in a SQLite workdir, behind a token.

``python -m trainer.service --workdir DIR [--app module:attr]`` serves it (the ``service`` extra);
``create_app(ServiceSettings(workdir=...))`` is the ASGI app, :class:`TrainingService` the same
without HTTP.
"""

from .app import ServiceSettings, create_app, default_templates
from .limits import JobLimits
from .retention import Retention
from .service import InvalidRequest, TrainingService
from .templates import Template, load_templates, templates_from

__all__ = [
    "InvalidRequest",
    "JobLimits",
    "Retention",
    "ServiceSettings",
    "Template",
    "TrainingService",
    "create_app",
    "default_templates",
    "load_templates",
    "templates_from",
]

"""The name a logger gives a run: its own, the id the run was given (a job's), or none."""

from __future__ import annotations

import re

__all__ = ["given_run_id"]

# What trainer.run names a run that was given no run_id: "fit-3", "evaluate-4", "predict-5".
_AUTOMATIC_RUN_ID = re.compile(r"(fit|evaluate|predict)-[0-9]+")


def given_run_id(run: str) -> str | None:
    """``run`` if the caller chose it (``fit_async(run_id=...)``: the job manager passes each job's id),
    None if it is the id trainer made up for a run given none."""
    return None if _AUTOMATIC_RUN_ID.fullmatch(run) else run

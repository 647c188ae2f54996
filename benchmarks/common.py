"""Shared by the benchmarks: a throw-away project with its own names and ports, medians."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from courtyard.core.reporter import Recorder
from courtyard.harness.projects import remove_throwaway, throwaway_project
from courtyard.lifecycle.up import up
from courtyard.project.loaded import Project
from courtyard.runtime.engine import connect

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_project(
    host_base: int | None = None, replicas: int = 3, changes: dict | None = None
) -> Iterator[Project]:
    """A project of the repository's spec in a temporary folder (free host ports unless
    `host_base` is given); every Docker object it made is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        project = throwaway_project(
            Path(tmp),
            prefix="bench",
            template=REPO / "config" / "courtyard.yaml",
            changes={"replicas": replicas, **(changes or {})},
            host_base=host_base,
        )
        try:
            yield project
        finally:
            remove_throwaway(connect(), project)


def quiet_up(project: Project) -> Recorder:
    """`up` with its step lines kept instead of printed; returns them."""
    recorder = Recorder()
    up(project, reporter=recorder)
    return recorder


def median(values: list[float]) -> float:
    return statistics.median(values)

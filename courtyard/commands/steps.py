"""Steps every task starts with: load the spec (its warnings reported once), and hold the
cluster's lock while a task changes it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from courtyard.core import lock
from courtyard.core.reporter import PRINTER, Reporter
from courtyard.project.loaded import Project, load_project


def load(spec: str | None, reporter: Reporter = PRINTER) -> Project:
    """The project of `--spec` (or the default), its warnings reported once."""
    project = load_project(spec)
    for message in project.spec.warnings:
        reporter.warn(message)
    return project


@contextlib.contextmanager
def load_locked(spec: str | None, task: str) -> Iterator[Project]:
    """`load`, then hold the cluster's lock while the task runs: two tasks that change one
    cluster's containers or files never run at once."""
    project = load(spec)
    cluster = project.names.fullname
    with lock.hold(project.layout.lock_file(cluster), task, cluster):
        yield project

"""Shared by the benchmarks: a throw-away project with its own names and ports, medians."""

from __future__ import annotations

import contextlib
import io
import secrets
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from courtyard.commands.up import up
from courtyard.project.loaded import Project, load_project
from courtyard.runtime import docker_objects
from courtyard.runtime.engine import connect

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_project(
    host_base: int = 25000, replicas: int = 3, changes: dict | None = None
) -> Iterator[Project]:
    """A project in a temporary folder; every Docker object it made is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        spec = yaml.safe_load((REPO / "config" / "courtyard.yaml").read_text())
        spec["release"] = f"bench{secrets.token_hex(2)}"
        spec["replicas"] = replicas
        spec["host_ports"] = {
            "client": host_base,
            "cluster": host_base + 50,
            "monitor": host_base + 100,
        }
        spec.update(changes or {})
        path = Path(tmp) / "config" / "courtyard.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump(spec))
        project = load_project(path)
        try:
            yield project
        finally:
            docker_objects.purge(connect(), project)


def quiet_up(project: Project) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        up(project)


def median(values: list[float]) -> float:
    return statistics.median(values)

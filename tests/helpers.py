"""Helpers shared by unit and integration tests: specs written to a temporary project."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
REPO_SPEC = REPO / "config" / "courtyard.yaml"


def base_spec() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(REPO_SPEC.read_text()))


def deep_update(target: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = value
    return target


def shared_chart(version: str) -> Path | None:
    """The real nats/nats chart of `version`: $COURTYARD_NATS_CHART for 2.x, else the
    unmodified copy in ../shared/charts beside the project; None when neither is there."""
    named = os.environ.get("COURTYARD_NATS_CHART")
    if named and not version.startswith("0."):
        return Path(named)
    folder = REPO.parent / "shared" / "charts" / f"nats-{version}"
    return folder if folder.is_dir() else None


def write_spec(root: Path, changes: dict[str, Any] | None = None) -> Path:
    """Write the repo's spec with `changes` merged in to <root>/config/courtyard.yaml."""
    path = root / "config" / "courtyard.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(deep_update(base_spec(), changes or {})))
    return path


def invoke(
    *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run `invoke ARGS` on this project's tasks as a user would, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )

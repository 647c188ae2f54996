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


CURRENT_CHART = "2.14.2"
LEGACY_CHART = "0.19.17"


def shared_chart(version: str) -> Path | None:
    """The real, unmodified nats/nats chart of `version`: in $COURTYARD_CHARTS (the folder
    Courtyard itself searches), else in ../shared/charts beside the project; None when absent."""
    folders = [Path(os.environ["COURTYARD_CHARTS"])] if os.environ.get("COURTYARD_CHARTS") else []
    folders.append(REPO.parent / "shared" / "charts")
    for folder in folders:
        if (folder / f"nats-{version}").is_dir():
            return folder / f"nats-{version}"
    return None


def real_chart(version: str) -> Path:
    """The chart of `version`, or skip: on a developer machine without ../shared only; CI
    sets COURTYARD_REQUIRE_CHARTS=1, and then a missing chart fails the test."""
    import pytest

    pytest.importorskip("helm_python", reason="the [helm] extra is not installed")
    path = shared_chart(version)
    if path is None:
        why = f"no nats/nats {version} chart in $COURTYARD_CHARTS or ../shared/charts"
        if os.environ.get("COURTYARD_REQUIRE_CHARTS") == "1":
            pytest.fail(f"{why}, and COURTYARD_REQUIRE_CHARTS=1 requires it")
        pytest.skip(why)
    return path


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

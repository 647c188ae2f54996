"""What a user sees stays the same: the generated files and task output for the default spec.

Golden copies live in tests/golden/default/, with the project folder written as <ROOT> and
step durations as (N.NNs). After a deliberate change, regenerate them with
`COURTYARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_golden.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from courtyard.artefacts.compose import write_compose
from courtyard.artefacts.node_containers import node_definitions
from courtyard.project.loaded import load_project
from courtyard.project.naming import local_image
from tests.helpers import REPO, invoke, write_spec

GOLDEN = REPO / "tests" / "golden" / "default"
UPDATE = bool(os.environ.get("COURTYARD_UPDATE_GOLDEN"))
DURATION = re.compile(r"\(\d+\.\d+s\)")


def run_task(root: Path, *args: str) -> str:
    proc = invoke(
        *args, env={**os.environ, "COURTYARD_SPEC": str(root / "config" / "courtyard.yaml")}
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + (f"--- stderr ---\n{proc.stderr}" if proc.stderr else "")


def normalise(text: str, root: Path) -> str:
    return DURATION.sub("(N.NNs)", text.replace(str(root), "<ROOT>"))


def secrets_shape(text: str) -> str:
    """The Secrets without their (random) key material: names, types and data keys."""
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        doc["data"] = sorted(doc["data"])
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    """Every golden item, generated once for the default spec in a fresh project folder."""
    root = tmp_path_factory.mktemp("golden")
    write_spec(root)
    found = {
        "invoke-list.txt": run_task(root, "--list"),
        "configs.out": run_task(root, "configs"),
        "export-helm.out": run_task(root, "export-helm"),
    }
    for conf in sorted((root / "config" / "nodes").glob("*.conf")):
        found[f"nodes/{conf.name}"] = conf.read_text()
    helm = root / "dist" / "helm"
    found["helm/values.yaml"] = helm.joinpath("values.yaml").read_text()
    found["helm/README.md"] = helm.joinpath("README.md").read_text()
    found["helm/secrets-shape.yaml"] = secrets_shape(helm.joinpath("secrets.yaml").read_text())
    project = load_project(root / "config" / "courtyard.yaml")
    compose = write_compose(project, node_definitions(project, local_image()))
    found["compose/docker-compose.yml"] = compose.read_text()
    found["compose/.env"] = compose.parent.joinpath(".env").read_text()
    return {name: normalise(text, root) for name, text in found.items()}


NAMES = [
    "invoke-list.txt",
    "configs.out",
    "export-helm.out",
    *[f"nodes/skunkwolf-nats-{i}.conf" for i in range(3)],
    "helm/values.yaml",
    "helm/README.md",
    "helm/secrets-shape.yaml",
    "compose/docker-compose.yml",
    "compose/.env",
]


@pytest.mark.parametrize("name", NAMES)
def test_output_matches_the_golden_copy(outputs, name):
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(outputs[name])
    assert outputs[name] == golden.read_text(), f"{name} differs from {golden}"


def test_every_generated_item_has_a_golden_copy(outputs):
    assert sorted(outputs) == sorted(NAMES)

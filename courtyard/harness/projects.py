"""Throw-away projects: a spec with a unique release and host ports of its own, in a folder
of its own, so that a test's, a benchmark's or a service session's cluster clashes with
nothing else on the machine. The one builder of such projects; removal goes with it.
"""

from __future__ import annotations

import copy
import secrets
import shutil
from pathlib import Path
from typing import Any

import docker
import yaml

from courtyard.core import yamlsafe
from courtyard.project import naming
from courtyard.project.load import DEFAULT_SPEC, MAX_REPLICAS, load_spec
from courtyard.project.loaded import Project, load_project
from courtyard.runtime import docker_objects, ports

DEFAULT_REPLICAS = 3


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in, mappings key by key; neither is modified."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def throwaway_project(
    root: Path,
    *,
    prefix: str,
    template: Path | None = None,
    changes: dict[str, Any] | None = None,
    host_base: int | None = None,
) -> Project:
    """Write `<root>/config/courtyard.yaml` from `template` (a spec file, validated first;
    else the defaults) with `changes` merged in, a release `<prefix>-<random>` and a block
    of free host ports (from `host_base` when given), and load it.

    A template's `fullname_override` is dropped: the cluster's names must be its own.
    """
    raw: dict[str, Any] = {}
    replicas = DEFAULT_REPLICAS
    if template is not None:
        replicas = load_spec(template).replicas
        raw = yamlsafe.load(template.read_text())
    raw = merged(raw, changes or {})
    raw.pop("fullname_override", None)
    replicas = raw.get("replicas", replicas)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        replicas = DEFAULT_REPLICAS  # the loader below names the mistake
    replicas = min(max(replicas, 1), MAX_REPLICAS)
    base = (
        host_base
        if host_base is not None
        else ports.free_port_base(naming.host_ports_needed(replicas))
    )
    raw["release"] = f"{prefix}-{secrets.token_hex(3)}"
    raw["host_ports"] = naming.host_port_block(base, replicas)
    path = root / DEFAULT_SPEC
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_project(path)


def remove_throwaway(client: docker.DockerClient, project: Project) -> None:
    """Every Docker object of the project's cluster, then its folder (certificates, CA key
    and configs included)."""
    docker_objects.purge(client, project)
    shutil.rmtree(project.spec.root, ignore_errors=True)

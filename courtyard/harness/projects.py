"""Throw-away projects: a spec with a unique release and host ports of its own, in a folder
of its own, so that a test's, a benchmark's or a service session's cluster clashes with
nothing else on the machine. The one builder of such projects; removal goes with it.

Each such folder records who holds it (`holders.py`: the process that made it, or the user
who kept it). A session killed before it could clean up (a second Ctrl-C, SIGKILL, an xdist
worker torn down) leaves containers, a network, volumes and a folder with a CA key: its
reaper (`reaper.py`) removes them as soon as that process has ended, and `sweep_leftovers`
finds any others by their labels and folder and removes those that nobody holds.
"""

from __future__ import annotations

import copy
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import yaml

from courtyard.core import yamlsafe
from courtyard.core.interrupts import deferred_interrupt
from courtyard.harness import holders
from courtyard.project import naming
from courtyard.project.layout import Layout
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
    project = load_project(path)
    holders.record_this_process(root)
    return project


def remove_throwaway(client: docker.DockerClient, project: Project) -> None:
    """Every Docker object of the project's cluster, then its folder (certificates, CA key
    and configs included). A Ctrl-C meanwhile waits until all of it is gone."""
    with deferred_interrupt():
        docker_objects.purge(client, project)
        shutil.rmtree(project.spec.root, ignore_errors=True)


# Leftovers of ended sessions ------------------------------------------------------------
def _root_of(spec_file: str) -> Path | None:
    """The project folder of a spec file named by a label ("" when none is)."""
    return Path(spec_file).parent.parent if spec_file else None


def _remove_unheld(
    client: docker.DockerClient, wanted: Callable[[str, Path | None], bool]
) -> list[str]:
    """Remove each labelled cluster that `wanted(fullname, folder)` picks and nobody holds:
    its Docker objects, and its folder when that is a throw-away one. The names removed."""
    removed = []
    for fullname, spec_file in sorted(docker_objects.labelled_clusters(client).items()):
        root = _root_of(spec_file)
        if not wanted(fullname, root) or (root is not None and holders.held(root)):
            continue
        docker_objects.purge_cluster(client, fullname)
        if root is not None and Layout(root).owner_file.exists():
            shutil.rmtree(root, ignore_errors=True)
        removed.append(fullname)
    return removed


def sweep_leftovers(client: docker.DockerClient, prefixes: tuple[str, ...]) -> list[str]:
    """Remove the throw-away clusters (releases `<prefix>-<hex>`) that nobody holds any more
    (`holders.held`): their Docker objects and their folder. Returns the cluster names
    removed."""
    removed = _remove_unheld(
        client, lambda fullname, _: any(naming.is_throwaway(fullname, p) for p in prefixes)
    )
    # Folders whose cluster never got an object (or lost them all), in the temp folder.
    for root in Path(tempfile.gettempdir()).glob("*-*"):
        ours = any(root.name.startswith(f"{p}-") for p in prefixes)
        if ours and Layout(root).owner_file.exists() and not holders.held(root):
            shutil.rmtree(root, ignore_errors=True)
    return removed


def reap(client: docker.DockerClient, root: Path) -> list[str]:
    """Remove what is left of the throw-away cluster made in `root` unless somebody still
    holds it: its Docker objects (found by the spec file their labels name) and the folder.
    Returns the cluster names removed."""
    root = root.resolve()
    removed = _remove_unheld(client, lambda _, folder: folder == root)
    if Layout(root).owner_file.exists() and not holders.held(root):
        shutil.rmtree(root, ignore_errors=True)
    return removed

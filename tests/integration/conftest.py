"""Integration fixtures: a real Docker engine, clusters with the tests' own names and ports.

Every cluster a test makes has a unique release name, so its containers, network and
volumes carry their own cluster label; cleanup removes exactly those, also after a failure.
`cluster` is shared by a module and only read; a test that stops, removes or changes nodes
takes `own_cluster`. In CI (COURTYARD_REQUIRE_DOCKER=1) an unreachable engine fails the
tests instead of skipping.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import Recorder
from courtyard.harness.projects import sweep_leftovers, throwaway_project
from courtyard.lifecycle.up import up
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.runtime.engine import connect
from courtyard.runtime.image import scratch_context
from courtyard.servers.natsclient import connect as nats_connect
from courtyard.servers.natsclient import run_quietly
from tests.helpers import REPO_SPEC


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = connect()
    except CourtyardError as exc:
        if os.environ.get("COURTYARD_REQUIRE_DOCKER"):
            pytest.fail(f"Docker is required here: {exc}")
        pytest.skip(str(exc))
    # Clusters of earlier runs that were killed before their cleanup (their owner is gone).
    sweep_leftovers(client, ("cyt", naming.PYTEST_RELEASE_PREFIX))
    return client


def test_project(root: Path, changes: dict | None = None, template: Path = REPO_SPEC) -> Project:
    """A project of the repository's spec (or `template`) with `changes`, its own release
    and free host ports (the harness's one builder of throw-away projects)."""
    return throwaway_project(root, prefix="cyt", template=template, changes=changes)


test_project.__test__ = False  # a helper, not a test


def quietly(action: Callable[[], object]) -> str:
    """Run `action`; what it printed, returned instead of shown."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        action()
    return output.getvalue()


def quiet_up(project: Project, timeout: float = 90, **options) -> str:
    """`invoke up` for a test: the lines its steps reported, returned instead of shown."""
    recorder = Recorder()
    up(project, timeout=timeout, reporter=recorder, **options)
    return recorder.text


@pytest.fixture
def make_project(tmp_path_factory, docker_client) -> Iterator:
    """Projects for one test, purged afterwards."""
    made: list[Project] = []

    def make(changes: dict | None = None, replicas: int = 3) -> Project:
        root = tmp_path_factory.mktemp("cluster")
        project = test_project(root, {"replicas": replicas, **(changes or {})})
        made.append(project)
        return project

    yield make
    for project in made:
        docker_objects.purge(docker_client, project)


@pytest.fixture
def own_cluster(make_project) -> Project:
    """A running 3-node cluster of this test's own, to stop, change or take down."""
    project = make_project()
    quiet_up(project)
    return project


@contextlib.contextmanager
def running_cluster(
    tmp_path_factory, docker_client, changes: dict | None = None
) -> Iterator[Project]:
    """A running 3-node cluster of the tests' own names and ports, purged afterwards."""
    project = test_project(tmp_path_factory.mktemp("cluster"), changes)
    try:
        quiet_up(project)
        yield project
    finally:
        docker_objects.purge(docker_client, project)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, docker_client) -> Iterator[Project]:
    """One running 3-node cluster shared by a test module; tests only read it."""
    with running_cluster(tmp_path_factory, docker_client) as project:
        yield project


def stream_names(project: Project) -> list[str]:
    """The names of every stream on the cluster, buckets' streams included."""

    async def names() -> list[str]:
        nc = await nats_connect(project)
        try:
            return [info.config.name for info in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    return run_quietly(names())


def busybox_image(client: docker.DockerClient, tag: str, dockerfile: str) -> str:
    """A FROM-scratch test image holding the static busybox as `busybox`."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.fail("this test needs busybox-static (apt-get install busybox-static)")
    context = scratch_context(dockerfile, {"busybox": busybox})
    client.images.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag, rm=True)
    return tag

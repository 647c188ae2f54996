"""One test session's hub: the project's running cluster when it is up and healthy, else a
throw-away cluster with names and host ports of its own, removed when the session ends.

The pytest plugin is a thin layer over `open_session` and `TestSession`; benchmarks call
them too, so the figures measure exactly what a test session pays.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

from courtyard.checks import readiness
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import Recorder
from courtyard.harness import holders, reaper
from courtyard.harness.faults import FaultInjector
from courtyard.harness.projects import remove_throwaway, sweep_leftovers, throwaway_project
from courtyard.lifecycle import up as up_command
from courtyard.project import naming
from courtyard.project.load import DEFAULT_SPEC, SPEC_ENV, spec_path
from courtyard.project.loaded import Project, load_project
from courtyard.runtime import docker_objects, engine, link_faults, ports
from courtyard.servers.natsclient import connect as nats_connect
from courtyard.testing.housekeeping import Housekeeper
from courtyard.testing.hub import CONNECT_DEFAULTS, Hub
from courtyard.testing.namespace import Namespace

THROWAWAY_RELEASE = naming.PYTEST_RELEASE_PREFIX
DEFAULT_TIMEOUT = 90.0


@dataclass(frozen=True)
class SessionOptions:
    spec_file: Path | None = None  # explicit --courtyard-spec
    ephemeral: bool = False  # always a throw-away cluster
    keep: bool = False  # leave a throw-away cluster running at the end
    timeout: float = DEFAULT_TIMEOUT
    root: Path = field(default_factory=Path.cwd)  # where config/courtyard.yaml is looked for
    environ: dict[str, str] = field(default_factory=dict)


def find_spec(options: SessionOptions) -> Path | None:
    """--courtyard-spec, else $COURTYARD_SPEC, else <root>/config/courtyard.yaml if present
    (`load.spec_path`'s rule); None when there is no spec to go by."""
    path = spec_path(options.spec_file, environ=options.environ, root=options.root)
    given = options.spec_file is not None or bool(options.environ.get(SPEC_ENV))
    return path if given or path.is_file() else None


def ended_session_marks(project: Project) -> list[Path]:
    """The marks of sessions that broke the spec's cluster and ended without healing it
    (killed mid-fault: nothing ran their end); none while a session that marked it still
    runs, since its faults are its own and the nodes do not say whose is whose."""
    ended, running = [], False
    for mark in sorted(project.layout.session_marks.glob("*.json")):
        owner = holders.process_in(mark)
        if owner is None or not owner.alive():
            ended.append(mark)
        else:
            running = True
    return [] if running else ended


def heal_ended_sessions(client: docker.DockerClient, project: Project, timeout: float) -> list[str]:
    """Heal what ended sessions left on the spec's cluster: link faults, paused nodes, nodes
    they stopped; then wait until it is ready. What it healed, one entry per node."""
    marks = ended_session_marks(project)
    if not marks:
        return []
    containers = docker_objects.node_containers(client, project)
    stopped = {
        i for i, c in enumerate(containers) if c is not None and c.status in ("exited", "created")
    }
    healed = FaultInjector(client, project, stopped).heal_all(timeout)
    for mark in marks:
        mark.unlink(missing_ok=True)
    return healed


def faults_shown(client: docker.DockerClient, project: Project) -> list[str]:
    """The faults the spec's nodes show now ("<pod>: partition"), whoever made them."""
    shown = []
    for pod, container in zip(
        project.names.pods, docker_objects.node_containers(client, project), strict=True
    ):
        if container is None:
            continue
        kinds = link_faults.applied(container)
        kinds += ["paused"] if container.status == "paused" else []
        if kinds:
            shown.append(f"{pod}: {', '.join(kinds)}")
    return shown


def not_ready_reason(client: docker.DockerClient, project: Project) -> str | None:
    """Why the project's cluster cannot serve the tests as it is; None when it can."""
    containers = docker_objects.node_containers(client, project)
    down = list(docker_objects.not_running(project.names.pods, containers))
    if down:
        return f"{', '.join(down)} not running"
    own = project.layout.client_cert(naming.RESERVED_IDENTITY)
    if not project.layout.ca_cert.is_file() or not own.is_file():
        return f"its certificates are not all in {project.layout.certs} (run `invoke up`)"
    state = readiness.check(project.names.monitor_targets)
    return None if state.ready else "; ".join(state.problems)


@dataclass
class TestSession:
    """The hub of one pytest session and what it did, for the summary at the end."""

    __test__ = False  # not a test class, whatever pytest collects

    hub: Hub
    why: str
    setup_seconds: float
    keep: bool = False
    swept: list[str] = field(default_factory=list)  # leftovers of ended sessions, removed
    healed_first: list[str] = field(default_factory=list)  # ended sessions' faults, healed
    cleanup_seconds: list[float] = field(default_factory=list)
    _housekeeper: Housekeeper | None = None

    @property
    def ephemeral(self) -> bool:
        return self.hub.ephemeral

    def housekeeper(self) -> Housekeeper:
        if self._housekeeper is None:
            # Courtyard's own identity (it may delete any test's streams); it reconnects like
            # a test's client, so it rides out a node a failover test stops.
            project = self.hub.project
            self._housekeeper = Housekeeper(
                lambda: nats_connect(
                    project, role="pytest-cleanup", allow_reconnect=True, **CONNECT_DEFAULTS
                )
            )
        return self._housekeeper

    def clean(self, namespace: Namespace) -> list[str]:
        """Delete the namespace's streams and buckets; the stream names deleted."""
        started = time.perf_counter()
        deleted = self.housekeeper().delete_streams(namespace.owns_stream)
        self.cleanup_seconds.append(time.perf_counter() - started)
        return deleted

    def close(self) -> list[str]:
        """Restore or remove the cluster; the lines the summary prints."""
        lines: list[str] = []
        if self.healed_first:
            lines.append(
                f"healed first what ended test sessions left broken on {self.hub.name}: "
                f"{'; '.join(self.healed_first)}"
            )
        if self.swept:
            lines.append(
                f"removed {len(self.swept)} throw-away cluster(s) that ended sessions left "
                f"behind: {', '.join(self.swept)}"
            )
        if self._housekeeper is not None:
            self._housekeeper.close()
        hub = self.hub
        if self.cleanup_seconds:
            median_ms = statistics.median(self.cleanup_seconds) * 1000
            lines.append(
                f"{len(self.cleanup_seconds)} test namespace(s) cleaned, "
                f"median {median_ms:.0f} ms each"
            )
        if not hub.ephemeral or self.keep:
            # Faults a test left (a crash inside its block, Ctrl-C) end with the session.
            healed = hub.restore()
            if healed:
                lines.append(f"healed what the tests left broken: {'; '.join(healed)}")
        if not hub.ephemeral:
            lines.insert(
                0,
                f"tests used the running cluster {hub.name} ({hub.spec_file}), "
                f"attached in {self.setup_seconds:.2f}s",
            )
            return lines
        lines.insert(
            0,
            f"throw-away cluster {hub.name} ({self.why}) came up in {self.setup_seconds:.1f}s",
        )
        if self.keep:
            holders.mark_kept(hub.project.spec.root)
            lines += kept_lines(hub)
        else:
            remove_throwaway(hub.client, hub.project)
            lines.append(f"removed {hub.name}: its containers, network, volumes and files")
        return lines


def kept_lines(hub: Hub) -> list[str]:
    env = f"COURTYARD_SPEC={hub.spec_file}"
    return [
        f"kept {hub.name} running (--courtyard-keep):",
        f"  servers   {','.join(hub.servers)}",
        f"  CA        {hub.ca_file}",
        *(f"  identity  {i.name}: {i.cert} {i.key}" for i in hub.identities.values()),
        f"  reuse it  pytest --courtyard-spec {hub.spec_file}",
        f'  reach it  eval "$({env} invoke env)"',
        f"  remove it {env} invoke down --volumes && rm -r {hub.project.spec.root}",
    ]


def start_throwaway(client: docker.DockerClient, template: Path | None, timeout: float) -> Project:
    """Bring up a throw-away cluster like `invoke up` (its step lines kept for a failure)."""
    root = Path(tempfile.mkdtemp(prefix=f"{THROWAWAY_RELEASE}-"))
    holders.record_this_process(root)
    reaper.watch(root)  # removes what this session makes should it die before it does
    recorder = Recorder()
    project: Project | None = None
    try:
        with contextlib.ExitStack() as port_lock:
            # Ports are chosen and published under one host-wide lock, so two sessions
            # starting at once never take the same ones; `up` lets go of it as soon as the
            # nodes have published theirs, and the readiness wait runs outside it.
            port_lock.enter_context(ports.reservation())
            project = throwaway_project(root, prefix=THROWAWAY_RELEASE, template=template)
            options = up_command.UpOptions(
                project, timeout=timeout, reporter=recorder, on_ports_bound=port_lock.close
            )
            up_command.run(up_command.UpContext(options))
    except BaseException as exc:
        if project is not None:
            remove_throwaway(client, project)
        else:
            shutil.rmtree(root, ignore_errors=True)
        if isinstance(exc, CourtyardError):
            raise CourtyardError(
                f"the throw-away cluster did not come up: {exc}\n{recorder.text}"
            ) from None
        raise
    return project


def open_session(options: SessionOptions) -> TestSession:
    """The running cluster of the spec when it is up and healthy, else a throw-away one."""
    started = time.perf_counter()
    client = engine.connect()
    # What a session killed mid-way left (its owner process is gone) is removed first.
    swept = sweep_leftovers(client, (THROWAWAY_RELEASE,))
    spec_file = find_spec(options)
    if options.ephemeral:
        why = "--courtyard-ephemeral"
    elif spec_file is None:
        why = f"no {DEFAULT_SPEC} here and no --courtyard-spec"
    else:
        project = load_project(spec_file)
        reason = not_ready_reason(client, project)
        healed: list[str] = []
        if reason is not None and ended_session_marks(project):
            # A session killed mid-fault left the spec's cluster broken: heal it first.
            try:
                healed = heal_ended_sessions(client, project, options.timeout)
            except CourtyardError as exc:
                reason = f"{reason}; healing what an ended test session left failed: {exc}"
            else:
                reason = not_ready_reason(client, project)
        if reason is None:
            hub = Hub(project, client, ephemeral=False)
            elapsed = time.perf_counter() - started
            return TestSession(hub, "running", elapsed, swept=swept, healed_first=healed)
        why = f"{project.names.fullname} is not up: {reason}"
        shown = faults_shown(client, project)
        if shown:
            why += (
                f"; it has faults that `invoke fault` or a running session made "
                f"({'; '.join(shown)}): `invoke up` heals them"
            )
    project = start_throwaway(client, spec_file, options.timeout)
    hub = Hub(project, client, ephemeral=True)
    return TestSession(hub, why, time.perf_counter() - started, keep=options.keep, swept=swept)

"""`invoke rotate-ca`: a new CA in three phases, each reloaded by every node, never split."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from courtyard.artefacts import rotation
from courtyard.checks.readiness import wait_ready
from courtyard.commands import steps
from courtyard.commands.output import table
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import DOT, PRINTER, TICK, Reporter
from courtyard.lifecycle import prepare
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import reload

DEFAULT_TIMEOUT = 60.0


def rotate_ca(
    spec: str | None,
    *,
    status: bool,
    as_json: bool,
    timeout: float,
    stop_after: int | None = None,
) -> None:
    if stop_after is not None and not 1 <= stop_after <= len(rotation.PHASES):
        raise CourtyardError(
            f"--stop-after {stop_after} is no phase; choose 1 to {len(rotation.PHASES)}"
        )
    if status:
        show_status(steps.load(spec), as_json=as_json)
        return
    with steps.load_locked(spec, "rotate-ca") as project:
        run(project, timeout=timeout, stop_after=stop_after or len(rotation.PHASES))


def ready_before(client, project: Project, timeout: float, reporter: Reporter = PRINTER) -> None:
    """Every node must run and the cluster be ready: a node that is down would miss a
    phase's reload."""
    names = project.names
    with reporter.step("Cluster ready before the rotation") as info:
        containers = docker_objects.node_containers(client, project)
        down = list(docker_objects.not_running(names.pods, containers))
        if down:
            raise CourtyardError(
                f"{', '.join(down)} of cluster {names.fullname} not running; run `invoke up` "
                "first, then `invoke rotate-ca` (a rotation needs every node to reload)"
            )
        info["detail"] = wait_ready(client, project, names.monitor_targets, timeout)


def run_phase(
    client, project: Project, number: int, files: Callable[[], object], timeout: float, state
) -> str:
    """One phase: its files, then every node reloads (one at a time, confirmed by what it
    serves), then the cluster must be ready; recorded before the next phase starts."""
    names = project.names
    files()
    for index in range(names.replicas):
        reload.reload_node(client, project, index)
    summary = wait_ready(client, project, names.monitor_targets, timeout)
    state.done = number
    rotation.save_state(project.layout, state)
    return f"{names.replicas} node(s) reloaded; {summary}"


def run(
    project: Project,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    stop_after: int = len(rotation.PHASES),
    reporter: Reporter = PRINTER,
) -> dict[str, float]:
    """The three phases, each through `run_phase`, resuming where an earlier run stopped.
    Stops after phase `stop_after` (to apply the same phase to Kubernetes); returns the
    seconds each phase run now took."""
    layout, names = project.layout, project.names
    started = time.monotonic()
    state = rotation.load_state(layout)
    resumed = state is not None
    client = prepare.connect_engine(reporter)
    ready_before(client, project, timeout, reporter)
    if state is None:
        state = rotation.begin(layout)
    phase_files = {
        1: lambda: rotation.trust_both(project.spec, layout, state),
        2: lambda: rotation.reissue(project.spec, names, layout),
        3: lambda: rotation.trust_new_only(layout),
    }
    took: dict[str, float] = {}
    for number, title in enumerate(rotation.PHASES, start=1):
        if state.done >= number:
            reporter.line(f" {TICK} Phase {number}: {title}: done by an earlier run")
            continue
        if number > stop_after:
            reporter.line(
                f"Stopped after phase {stop_after} as asked. Apply it to Kubernetes "
                "(`invoke export-helm`, then `kubectl apply -f dist/helm/secrets.yaml`), wait "
                "until every pod has reloaded, then run `invoke rotate-ca` to go on."
            )
            return took
        phase_started = time.monotonic()
        with reporter.step(f"Phase {number}: {title}") as info:
            info["detail"] = run_phase(client, project, number, phase_files[number], timeout, state)
        took[title] = time.monotonic() - phase_started
    rotation.finish(layout)
    reporter.line(
        f"CA rotated{' (resumed)' if resumed else ''} in {time.monotonic() - started:.1f}s: "
        f"every certificate now chains to the new CA {state.new_ca[:23]}...; clients trust "
        "certs/ca-bundle.crt (`invoke env`). Next: `invoke export-helm` for the same "
        "rotation in Kubernetes (see its README)."
    )
    return took


def show_status(project: Project, *, as_json: bool) -> None:
    """`invoke rotate-ca --status`: the phase a rotation has reached, or that none runs."""
    state = rotation.load_state(project.layout)
    if as_json:
        print(json.dumps(vars(state) if state else None, indent=2))
        return
    if state is None:
        print("No CA rotation is running. Start one with `invoke rotate-ca`.")
        return
    rows = [
        (number, title, "done" if state.done >= number else "to do")
        for number, title in enumerate(rotation.PHASES, start=1)
    ]
    print(table(["phase", "what", "state"], rows))
    print(f" {DOT} old CA {state.old_ca}")
    print(f" {DOT} new CA {state.new_ca or '(not made yet)'}")
    print("Resume with `invoke rotate-ca`.")

"""`invoke fault KIND`: break the running cluster by hand, as the pytest plugin's faults do."""

from __future__ import annotations

import json
import time

from docker.errors import DockerException

from courtyard.commands.steps import load_locked
from courtyard.core.errors import CourtyardError, Interrupted
from courtyard.core.reporter import PRINTER, Recorder
from courtyard.harness.faults import (
    Fault,
    FaultInjector,
    MetaLeader,
    SlowLink,
    StreamLeader,
    Target,
    check_kind,
)
from courtyard.runtime import engine


def target_of(node: str | None, leader: str | None, meta_leader: bool) -> Target:
    """The node the options name: exactly one of --node, --leader and --meta-leader."""
    given = [node is not None, leader is not None, meta_leader]
    if given.count(True) != 1:
        raise CourtyardError(
            "name the node to break with exactly one of --node N (index or server name), "
            "--leader STREAM or --meta-leader"
        )
    if node is not None:
        return node
    return StreamLeader(leader) if leader is not None else MetaLeader()


def heal(injector: FaultInjector, applied: Fault, timeout: float) -> None:
    """Heal `applied` and wait for the cluster; when that cannot finish, one sentence says
    what is still in place and what heals it."""
    what = f"{applied.pod}'s {applied.kind}"
    started = time.monotonic()
    try:
        injector.undo(applied)  # finishes even when interrupted, then raises
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {what} is undone, but the cluster was not waited for: "
            "`invoke status` shows it"
        ) from None
    except (CourtyardError, DockerException) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CourtyardError(
            f"{what} may still be in place: the heal stopped ({reason}); `invoke up` heals it"
        ) from None
    try:
        injector.wait_ready(timeout)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {what} is undone, but the wait for the cluster to be ready was "
            "cut short: `invoke status` shows it"
        ) from None
    applied.healed_in = time.monotonic() - started


def fault(
    spec: str | None,
    kind: str,
    *,
    target: Target,
    hold: float | None,
    slow: SlowLink | None = None,
    timeout: float = 60.0,
    as_json: bool = False,
) -> None:
    check_kind(kind)  # option values (--for, --timeout, --loss ...) are read in tasks.py
    if kind != "slow" and slow is not None:
        raise CourtyardError("--loss, --delay, --jitter and --towards go with `invoke fault slow`")
    # With --json the step lines are kept, not printed: the JSON is all the output.
    reporter = Recorder() if as_json else PRINTER
    with load_locked(spec, "fault") as project:
        injector = FaultInjector(engine.connect(), project)
        with reporter.step(f"Fault {kind}") as info:
            applied = injector.apply(kind, target, slow)
            info["detail"] = f"{applied.pod} {applied.detail}"
        held = None
        if hold is not None:
            started = time.monotonic()
            interrupted = False
            try:
                time.sleep(hold)  # the user asked for the fault to hold this long
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: heal now, then stop as asked
                interrupted = True
            held = time.monotonic() - started
            with reporter.step(f"Held {held:.1f}s, healed, cluster ready"):
                heal(injector, applied, timeout)
            if interrupted:
                raise Interrupted(
                    f"interrupted after {held:.1f}s; {applied.pod} is healed and the cluster "
                    "is ready"
                )
    if as_json:
        print(
            json.dumps(
                {
                    "kind": kind,
                    "node": applied.node,
                    "pod": applied.pod,
                    "detail": applied.detail,
                    "took_s": round(applied.took, 3),
                    "held_s": None if held is None else round(held, 3),
                    "healed_in_s": None
                    if applied.healed_in is None
                    else round(applied.healed_in, 3),
                }
            )
        )
    elif hold is None:
        print(
            f"{applied.pod} stays broken until healed: `invoke up` heals it (it heals every "
            "fault); `--for SECONDS` holds a fault and heals it by itself."
        )
    else:
        print("Healed; `invoke status` shows the cluster.")

"""`invoke fault KIND`: break the running cluster by hand, as the pytest plugin's faults do."""

from __future__ import annotations

import json
import time

from courtyard.commands.output import PRINTER, Recorder
from courtyard.commands.steps import load_locked
from courtyard.core.errors import CourtyardError
from courtyard.harness.faults import (
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
    check_kind(kind)
    if hold is not None and not 0 < hold <= 3600:
        raise CourtyardError(f"--for takes seconds, more than 0 and at most 3600, not {hold:g}")
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
            try:
                time.sleep(hold)  # the user asked for the fault to hold this long
            finally:
                held = time.monotonic() - started
                with reporter.step(f"Held {held:.1f}s, healed, cluster ready"):
                    injector.heal(applied, timeout)
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

"""`invoke smoke`: each check of the running cluster as one line, or a JSON report."""

from __future__ import annotations

import json
import time

from courtyard.checks import smoke as smoke_check
from courtyard.checks.outcome import CheckResult
from courtyard.commands.steps import load_locked
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import CROSS, TICK
from courtyard.harness import failover as failover_check


def smoke(spec: str | None, *, messages: int, failover: bool, as_json: bool) -> None:
    with load_locked(spec, "smoke") as project:
        started = time.monotonic()

        def show(result: CheckResult) -> None:
            if not as_json:
                mark = TICK if result.ok else CROSS
                print(f" {mark} {result.name}: {result.detail} ({result.seconds:.2f}s)", flush=True)

        if not as_json:
            print(f"Courtyard smoke: {project.names.fullname} from {project.spec.path}")
        extra = [failover_check.SMOKE_CHECK] if failover else []
        report = smoke_check.run(project, messages=messages, extra=extra, on_result=show)
        if as_json:
            print(json.dumps(report.to_dict(), indent=2))
        elif report.ok:
            print(
                f"All {len(report.checks)} checks passed in {time.monotonic() - started:.1f}s. "
                "Next: `invoke export-helm` to deploy the same cluster to Kubernetes."
            )
        failed = [check.name for check in report.checks if not check.ok]
        if failed:
            raise CourtyardError(f"{len(failed)} smoke check(s) failed: {'; '.join(failed)}")

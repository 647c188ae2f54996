"""The chart's rendered config, run for real and asked through the system identity.

`invoke export-helm --verify` compares the rendered nats.conf with the local one; this goes
further: the rendered StatefulSet's pods run as containers (`helm/pods.py`) for a copy of
the project with a release, names and host ports of its own (so a running local cluster is
never touched), the same `$SYS` requests the smoke makes are sent through the system
identity, the identities' traffic crosses as the smoke proves it (`checks/traffic.py`), and
each team's stream escapes are tried (`checks/escapes.py`). Everything the copy made is
removed afterwards.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import docker
from nats.js.api import StorageType

from courtyard.artefacts.certs import ensure_certs
from courtyard.checks import escapes
from courtyard.checks.outcome import CheckFailed
from courtyard.checks.traffic import check_traffic
from courtyard.checks.workload import create_stream, publish_once_reachable
from courtyard.core.errors import CourtyardError
from courtyard.harness import reaper
from courtyard.harness.projects import remove_throwaway, throwaway_project
from courtyard.helm import chart as helm_chart
from courtyard.helm import pods as chart_pods
from courtyard.helm import verify as helm_verify
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.project.model import ClientIdentity
from courtyard.servers import system
from courtyard.servers.natsclient import connect, run_quietly


@dataclass
class ChartRun:
    release: str  # the copy's release
    ready: str = ""  # the readiness summary
    answered: dict[str, list[str]] = field(default_factory=dict)  # subject -> servers
    outsiders: dict[str, str] = field(default_factory=dict)  # identity -> what it got
    escapes: dict[str, str] = field(default_factory=dict)  # team -> how its streams fared
    traffic: str = ""  # how the identities' traffic crossed (teams only)
    traffic_ok: bool = True
    expected: int = 0

    @property
    def ok(self) -> bool:
        return (
            all(len(s) == self.expected for s in self.answered.values())
            and all(got != "ANSWERED" for got in self.outsiders.values())
            and not any(got.startswith(ESCAPED) for got in self.escapes.values())
            and self.traffic_ok
        )


ESCAPED = "ESCAPED: "
FOREIGN_STREAM = "VERIFY_FOREIGN"


async def _ask(copy: Project, run: ChartRun) -> None:
    nc = await system.connect_system(copy)
    try:
        run.answered = await system.who_answers(nc, system.PROOF_SUBJECTS, expected=run.expected)
    finally:
        await nc.close()
    for name in [c.name for c in copy.spec.tls.admin_identities][:1]:
        nc = await connect(copy, identity=name, role=f"verify-{name}")
        try:
            got = await system.what_others_get(nc, system.SERVER_PING)
        finally:
            await nc.close()
        run.outsiders[name] = got or "ANSWERED"
    teams = list(copy.spec.tls.team_identities)
    if teams:
        try:
            run.traffic = await check_traffic(copy, "verify")
        except CheckFailed as exc:
            run.traffic, run.traffic_ok = str(exc), False
        await _try_escapes(copy, run, teams)


async def _try_escapes(copy: Project, run: ChartRun, teams: list[ClientIdentity]) -> None:
    """Each team's five stream escapes (`checks/escapes.py`), against a stream of the shared
    account that holds a message."""
    admin = await connect(copy, role="verify-escapes")
    try:
        js = admin.jetstream()
        subject = f"{naming.PREFIX}.verify.stored"
        await create_stream(
            js, name=FOREIGN_STREAM, subjects=[subject], storage=StorageType.MEMORY, num_replicas=1
        )
        await publish_once_reachable(js, subject, b"another team's data")
        target = escapes.Target(FOREIGN_STREAM, f"{naming.PREFIX}.verify.foreign")

        async def probe(team: ClientIdentity) -> str:
            try:
                return await escapes.probe_escapes(copy, team, admin, target, "verify")
            except CheckFailed as exc:
                return f"{ESCAPED}{exc}"

        # Each team's probe touches only its own account's streams: all at once.
        found = await asyncio.gather(*(probe(team) for team in teams))
        run.escapes = {team.name: got for team, got in zip(teams, found, strict=True)}
    finally:
        await admin.close()


def run_chart(
    client: docker.DockerClient,
    project: Project,
    chart: helm_chart.Chart,
    image: str,
    timeout: float = 90,
) -> ChartRun:
    """Render `chart` for a throw-away copy of `project`, run its pods until ready, ask."""
    system.system_identity(project)  # one sentence when the spec has none
    with tempfile.TemporaryDirectory(prefix="courtyard-verify-") as tmp:
        copy = throwaway_project(Path(tmp) / "copy", prefix="verify", template=project.spec.path)
        reaper.watch(copy.spec.root)
        run = ChartRun(copy.spec.release, expected=copy.spec.replicas)
        try:
            ensure_certs(copy.spec, copy.names, copy.layout)
            objects = helm_verify.render(copy, chart)
            pods = chart_pods.pods_of(objects, copy, Path(tmp) / "pods")
            run.ready = chart_pods.run_release(client, copy, pods, image, timeout)
            run_quietly(_ask(copy, run))
        except CourtyardError as exc:
            raise CourtyardError(f"the chart's rendered pods did not serve: {exc}") from None
        finally:
            remove_throwaway(client, copy)
    return run

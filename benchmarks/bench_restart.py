"""Where a restart with data spends its time: Courtyard's `up` beside the bare servers.

    python -m benchmarks.bench_restart [--replicas 3] [--runs 10]

Interleaved runs of the same cluster: `down` (volumes kept) then `up`, and the same configs
as bare nats-server processes stopped (SIGTERM) and started again on their own state
(benchmarks/bare_servers.py, root only). Each run is cut in three by the servers' own log
lines: before the first server starts ("Starting nats-server"), the election (until the
first "metadata leader" line: recovering servers do not campaign until a Raft election
timer fires, a random 4-9 s after each started), and after it until ready (the same
readiness checks for both). One run's timeline is printed in full.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bare_servers import BareCluster, unavailable
from benchmarks.common import bench_project, median, quiet_up
from courtyard.runtime import docker_objects
from courtyard.runtime.engine import connect
from courtyard.runtime.teardown import down

LOG_LINE = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[\w+\] (.*)")
STARTED = "Starting nats-server"
LEADER = "metadata leader"
SHOWN = (STARTED, "Server is ready", LEADER, "new stream leader")


@dataclass
class Run:
    total: float
    before_servers: float  # until the first server started
    election: float  # from then until the first server logged a meta leader
    after_leader: float  # from then until ready

    @classmethod
    def of(cls, started: dt.datetime, ended: dt.datetime, events: list[tuple]) -> Run:
        first = min(t for t, _, what in events if STARTED in what)
        leader = min(t for t, _, what in events if LEADER in what)
        return cls(
            (ended - started).total_seconds(),
            (first - started).total_seconds(),
            (leader - first).total_seconds(),
            (ended - leader).total_seconds(),
        )


def log_events(node: str, text: str, since: dt.datetime, until: dt.datetime) -> list[tuple]:
    """(time, node, line) of the log lines from `since` to `until` that a timeline shows."""
    found = []
    for line in text.splitlines():
        match = LOG_LINE.search(line)
        if not match:
            continue
        when = dt.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")
        if since <= when <= until and any(key in match.group(2) for key in SHOWN):
            found.append((when, node, match.group(2)[:90]))
    return found


def now() -> dt.datetime:
    """The local wall clock, as nats-server's log lines carry it (UTC in a container)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def courtyard_restart(client, project) -> tuple[Run, list[tuple]]:
    """`up` of a cluster that `down` stopped (volumes kept), then `down` again."""
    started = now()
    quiet_up(project)
    ended = now()
    events = [(started, "up", "called"), (ended, "up", "ready")]
    for container in docker_objects.our_containers(client, project):
        container.reload()
        state = container.attrs["State"]["StartedAt"][:26]
        events.append(
            (dt.datetime.strptime(state, "%Y-%m-%dT%H:%M:%S.%f"), container.name, "container")
        )
        text = container.logs(since=int(started.replace(tzinfo=dt.UTC).timestamp()) - 1)
        events += log_events(container.name, text.decode(errors="replace"), started, ended)
    down(client, project)
    return Run.of(started, ended, events), sorted(events)


def bare_restart(servers: BareCluster, logs: Path) -> tuple[Run, list[tuple]]:
    """The bare servers started on their own state and ready, then stopped again."""
    started = dt.datetime.now()  # bare servers log local time
    servers.start(logs)
    servers.wait_ready()
    ended = dt.datetime.now()
    servers.stop()
    events = [(started, "bare", "started"), (ended, "bare", "ready")]
    for log in logs.glob("*.log"):
        events += log_events(log.stem, log.read_text(errors="replace"), started, ended)
    return Run.of(started, ended, events), sorted(events)


def show(title: str, events: list[tuple]) -> None:
    print(f"{title}:")
    start = events[0][0]
    for when, who, what in events:
        print(f"  {(when - start).total_seconds():7.3f}s  {who[-6:]:>6}  {what}")


def summary(name: str, runs: list[Run]) -> str:
    cells = [
        f"{median([getattr(r, key) for r in runs]):.2f}"
        for key in ("total", "before_servers", "election", "after_leader")
    ]
    return f"| {name} | {' | '.join(cells)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    why = unavailable()
    if why:
        raise SystemExit(f"bench_restart: {why}")
    client = connect()
    ours: list[Run] = []
    bare: list[Run] = []
    with bench_project(replicas=args.replicas) as project, tempfile.TemporaryDirectory() as tmp:
        quiet_up(project)  # the cluster's own state, then stopped
        down(client, project)
        servers = BareCluster(project, Path(tmp) / "bare")
        servers.start_ready()  # the bare servers' own state, then stopped
        servers.stop()
        for run in range(args.runs):
            logs = Path(tmp) / f"logs-{run}"
            logs.mkdir()
            run_bare, bare_events = bare_restart(servers, logs)
            run_ours, our_events = courtyard_restart(client, project)
            bare.append(run_bare)
            ours.append(run_ours)
            if run == 0:
                show("Courtyard restart, one run", our_events)
                show("Bare restart, one run", bare_events)
                print()
    print(f"Medians of {args.runs} interleaved runs, {args.replicas} nodes, in seconds:\n")
    print("| restart | total | before the servers start | election | after the leader |")
    print("| --- | --- | --- | --- | --- |")
    print(summary("Courtyard `up`", ours))
    print(summary("bare servers", bare))
    ratio = median([r.total for r in ours]) / median([r.total for r in bare])
    own = median([r.before_servers + r.after_leader for r in ours])
    floor = median([r.before_servers + r.after_leader for r in bare])
    print(f"\nrestart / bare restart = {ratio:.2f} (target <= 1.3)")
    print(f"outside the election: Courtyard {own:.2f}s, bare {floor:.2f}s")
    elections = [r.election for r in ours + bare]
    print(f"election waits: {min(elections):.2f}-{max(elections):.2f}s over all runs")


if __name__ == "__main__":
    main()

"""What the pytest plugin adds to a service's test session.

    python -m benchmarks.bench_plugin [--runs 7]

Reuse: wall time of a whole pytest session (own process) with one trivial test that takes
`courtyard_cluster` from a running cluster, minus the same session whose test takes no
fixture; median of the runs. Attach: the fixture's own setup (`open_session` on a running
cluster), in process. Throw-away: `open_session(ephemeral)` (names, ports, certificates,
`up` until ready) and its `close` (containers, network, volumes and files removed).
Cleanup: `courtyard_namespace` teardown for a test that made one R3 stream and one KV bucket,
and for a test that made nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import bench_project, median, quiet_up
from courtyard.checks.workload import (
    create_bucket,
    create_stream,
    publish_once_reachable,
    until_reachable,
)
from courtyard.servers.natsclient import connect, run_quietly
from courtyard.testing.namespace import Namespace
from courtyard.testing.session import SessionOptions, open_session

WITH_FIXTURE = "def test_it(courtyard_cluster):\n    assert courtyard_cluster.servers\n"
WITHOUT_FIXTURE = "def test_it():\n    assert True\n"


def session_seconds(folder: Path, source: str, spec: Path) -> float:
    (folder / "test_it.py").write_text(source)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--rootdir", str(folder), "--courtyard-spec", str(spec), str(folder)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def reuse_overhead(project, runs: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = [session_seconds(folder, WITHOUT_FIXTURE, project.spec.path) for _ in range(runs)]
        used = [session_seconds(folder, WITH_FIXTURE, project.spec.path) for _ in range(runs)]
    return median(plain), median(used), median(used) - median(plain)


def attach_seconds(project, runs: int) -> float:
    times = []
    for _ in range(runs):
        session = open_session(SessionOptions(spec_file=project.spec.path))
        assert not session.ephemeral, "the bench cluster should have been reused"
        times.append(session.setup_seconds)
        session.close()
    return median(times)


def throwaway_seconds(runs: int) -> tuple[float, float]:
    ups, removals = [], []
    for _ in range(runs):
        session = open_session(SessionOptions(ephemeral=True, root=Path(tempfile.gettempdir())))
        ups.append(session.setup_seconds)
        started = time.perf_counter()
        session.close()
        removals.append(time.perf_counter() - started)
    return median(ups), median(removals)


async def make_data(project, namespace: Namespace) -> None:
    nc = await connect(project)
    try:
        js = nc.jetstream()
        subject = namespace.subject(">")
        await create_stream(js, name=namespace.stream("S"), subjects=[subject], num_replicas=3)
        await publish_once_reachable(js, namespace.subject("one"), b"x")
        kv = await create_bucket(js, bucket=namespace.bucket("kv"), replicas=3)
        await until_reachable(lambda: kv.put("k", b"v"))
    finally:
        await nc.close()


def cleanup_seconds(project, runs: int) -> tuple[float, float]:
    session = open_session(SessionOptions(spec_file=project.spec.path))
    try:
        session.clean(Namespace.new())  # the housekeeper's connection, made once per session
        with_data, empty = [], []
        for _ in range(runs):
            namespace = Namespace.new()
            run_quietly(make_data(project, namespace))
            started = time.perf_counter()
            deleted = session.clean(namespace)
            with_data.append(time.perf_counter() - started)
            assert len(deleted) == 2, deleted
            started = time.perf_counter()
            session.clean(Namespace.new())
            empty.append(time.perf_counter() - started)
    finally:
        session.close()
    return median(with_data), median(empty)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with bench_project(host_base=27000) as project:
        quiet_up(project)
        plain, used, overhead = reuse_overhead(project, args.runs)
        print(f"session, no fixture:             {plain:.2f}s")
        print(f"session, courtyard_cluster reused: {used:.2f}s (+{overhead * 1000:.0f} ms)")
        print(
            f"courtyard_cluster attach:         {attach_seconds(project, args.runs) * 1000:.0f} ms"
        )
        with_data, empty = cleanup_seconds(project, 3 * args.runs)
        print(f"namespace cleanup, stream + KV:    {with_data * 1000:.1f} ms")
        print(f"namespace cleanup, nothing made:   {empty * 1000:.1f} ms")
    up_seconds, removal = throwaway_seconds(args.runs)
    print(f"throw-away cluster up:            {up_seconds:.2f}s")
    print(f"throw-away cluster removed:       {removal:.2f}s")
    print(f"(medians of {args.runs} runs; cleanup of {3 * args.runs})")


if __name__ == "__main__":
    main()

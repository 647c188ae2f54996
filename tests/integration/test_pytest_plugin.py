"""The pytest plugin as a service team meets it: real pytest sessions in their own processes,
against the real engine, a real cluster and nats-py.

The module's `cluster` plays the developer's running cluster (`invoke up`): sessions given
its spec reuse it. A test here may stop one of its nodes only to show that the plugin starts
it again; the cluster is healthy again when that test ends.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from courtyard.checks import readiness
from courtyard.core.polling import poll
from courtyard.harness.projects import remove_throwaway, throwaway_project
from courtyard.project import naming
from courtyard.project.loaded import Project, load_project
from courtyard.runtime import docker_objects, link_faults
from courtyard.servers.natsclient import connect as nats_connect
from courtyard.servers.natsclient import run_quietly
from tests.helpers import invoke, write_spec
from tests.integration.conftest import stream_names


def write_tests(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_service.py").write_text(textwrap.dedent(source))
    return folder


def pytest_command(folder: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(folder),
        str(folder),
        *args,
    ]


def run_pytest(folder: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        pytest_command(folder, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=folder,
        check=False,
    )


def facts(folder: Path) -> dict:
    return json.loads((folder / "facts.json").read_text())


FACTS = """
    import asyncio, json, pathlib

    # A new stream's interest takes a moment to cross the routes ("no responders"): retry.
    from courtyard.checks.workload import until_reachable

    import nats
    import pytest

    def record(**facts):
        path = pathlib.Path(__file__).with_name("facts.json")
        known = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**known, **facts}))
"""


def test_a_session_reuses_the_running_cluster_and_each_test_reaches_it_with_mutual_tls(
    cluster, docker_client, tmp_path
):
    folder = write_tests(
        tmp_path / "suite",
        FACTS
        + """
    def test_facts(courtyard_cluster):
        record(ephemeral=courtyard_cluster.ephemeral, servers=courtyard_cluster.servers,
               identities=sorted(courtyard_cluster.identities))

    def test_plain_nats_py_with_the_handed_over_ssl_context(courtyard_cluster):
        async def main():
            nc = await nats.connect(servers=courtyard_cluster.servers,
                                    tls=courtyard_cluster.identity().ssl_context())
            reply = await nc.request("$JS.API.INFO", b"", timeout=5)
            await nc.close()
            return json.loads(reply.data)
        assert "error" not in asyncio.run(main())
    """,
    )
    before = {c.name for c in docker_client.containers.list(all=True)}

    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"tests used the running cluster {cluster.names.fullname}" in result.stdout
    assert facts(folder) == {
        "ephemeral": False,
        "servers": cluster.names.client_urls,
        "identities": sorted(cluster.names.identities),
    }
    assert {c.name for c in docker_client.containers.list(all=True)} == before


def test_a_tests_streams_and_buckets_are_deleted_when_it_ends_even_when_it_failed(
    cluster, tmp_path
):
    folder = write_tests(
        tmp_path / "suite",
        FACTS
        + """
    def test_fails_after_making_data(courtyard_cluster, courtyard_namespace):
        async def main():
            nc = await courtyard_cluster.connect()
            js = nc.jetstream()
            await js.add_stream(name=courtyard_namespace.stream("ORDERS"),
                                subjects=[courtyard_namespace.subject("orders.>")], num_replicas=3)
            subject = courtyard_namespace.subject("orders.created.1")
            await until_reachable(lambda: js.publish(subject, b"{}"))
            kv = await js.create_key_value(bucket=courtyard_namespace.bucket("config"))
            await until_reachable(lambda: kv.put("region", b"eu"))
            record(prefix=courtyard_namespace.prefix,
                   streams=[s.config.name for s in await js.streams_info()])
            await nc.close()
        asyncio.run(main())
        assert False, "the test failed after making its data"

    def test_the_next_test_sees_none_of_it(courtyard_cluster, courtyard_namespace):
        async def main():
            nc = await courtyard_cluster.connect()
            names = [s.config.name for s in await nc.jetstream().streams_info()]
            await nc.close()
            return names
        prefix = json.loads(pathlib.Path(__file__).with_name("facts.json").read_text())["prefix"]
        assert not [name for name in asyncio.run(main()) if prefix in name]
    """,
    )

    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    made = facts(folder)
    prefix = made["prefix"]
    assert sorted(n for n in made["streams"] if prefix in n) == [
        f"KV_{prefix}_config",
        f"{prefix}_ORDERS",
    ]
    assert [name for name in stream_names(cluster) if prefix in name] == []
    assert "2 test namespace(s) cleaned" in result.stdout


def test_a_test_acts_as_a_team_with_its_real_names_and_only_its_rights(cluster, tmp_path):
    """`courtyard_identity` logs in as the spec's restricted identity: its own subjects and
    stream (no prefix), refused anything else; its stream is deleted when the test ends
    (failed or not); an admin is no identity to act as; and on the spec's running cluster a
    team stream that is already there stops the test in one sentence instead of being shared."""
    folder = write_tests(
        tmp_path / "suite",
        FACTS
        + """
    import pytest
    from nats.errors import Error as NatsError

    def test_acts_as_orders_then_fails(courtyard_identity):
        orders = courtyard_identity("orders")
        async def main():
            refusals = []
            async def refused(error):
                refusals.append(str(error))
            nc = await orders.connect(error_cb=refused)
            js = nc.jetstream()
            await js.add_stream(name="ORDERS", subjects=["orders.>"], num_replicas=3)
            ack = await until_reachable(lambda: js.publish("orders.created.1", b"{}"))
            with pytest.raises(NatsError):  # another stream's API: refused, so no answer
                await nc.jetstream(timeout=1).stream_info("PAYMENTS")
            await nc.close()
            record(seq=ack.seq, refusals=refusals, streams=list(orders.streams))
        asyncio.run(main())
        assert False, "the test failed after making the team's stream"

    def test_the_next_test_starts_without_it(courtyard_identity):
        orders = courtyard_identity("orders")
        async def main():
            nc = await orders.connect()
            try:
                await nc.jetstream().stream_info("ORDERS")
                return "still there"
            except NatsError as exc:
                return type(exc).__name__
            finally:
                await nc.close()
        assert asyncio.run(main()) == "NotFoundError"

    def test_an_admin_is_no_identity_to_act_as(courtyard_identity):
        courtyard_identity("dev")
    """,
    )
    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))
    assert "2 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    made = facts(folder)
    assert made["seq"] == 1  # stored once, through the team's own bridge
    assert any(
        'permissions violation for publish to "$js.api.stream.info.payments"' in r.lower()
        for r in made["refusals"]
    ), made["refusals"]
    assert made["streams"] == ["ORDERS", "KV_orders-config"]
    assert "courtyard_identity('dev'): 'dev' is not a restricted identity of" in result.stdout

    async def make_orders_stream():
        nc = await nats_connect(cluster, identity="orders", inbox_prefix="_INBOX_orders")
        try:
            await nc.jetstream().add_stream(name="ORDERS", subjects=["orders.kept.>"])
        finally:
            await nc.close()

    async def drop_orders_stream():
        nc = await nats_connect(cluster, identity="orders", inbox_prefix="_INBOX_orders")
        try:
            await nc.jetstream().delete_stream("ORDERS")
        finally:
            await nc.close()

    kept = write_tests(
        tmp_path / "kept",
        """
    def test_acts_as_orders(courtyard_identity):
        courtyard_identity("orders")
    """,
    )
    run_quietly(make_orders_stream())
    try:
        result = run_pytest(kept, "--courtyard-spec", str(cluster.spec_file))
    finally:
        run_quietly(drop_orders_stream())
    assert "1 failed" in result.stdout, result.stdout
    assert (
        f"courtyard_identity('orders'): {cluster.names.fullname} already holds orders's ORDERS, "
        "which a test acting as orders would share" in result.stdout
    ), result.stdout


def test_nodes_a_test_left_stopped_paused_or_partitioned_are_healed_when_the_session_ends(
    cluster, docker_client, tmp_path
):
    folder = write_tests(
        tmp_path / "suite",
        FACTS
        + """
    from courtyard.core.errors import CourtyardError

    def test_blocking_stop_from_async_code_says_what_to_call(courtyard_cluster):
        async def main():
            courtyard_cluster.stop_node(2)
        with pytest.raises(CourtyardError, match="await courtyard_cluster.stop_node_async"):
            asyncio.run(main())

    def test_stops_a_node_and_forgets_it(courtyard_cluster):
        courtyard_cluster.stop_node(2)

    def test_breaks_two_more_and_never_heals(courtyard_cluster):
        import os
        # As a test that crashed inside its `with` blocks would leave them.
        courtyard_cluster.faults.apply("pause", 0)
        if os.geteuid() == 0:
            courtyard_cluster.faults.apply("partition", 1)
    """,
    )

    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))

    assert result.returncode == 0, result.stdout + result.stderr
    pods = cluster.names.pods
    healed = [f"{pods[0]}: pause", f"{pods[2]}: started"]
    if os.geteuid() == 0:
        healed.insert(1, f"{pods[1]}: partition")
    assert f"healed what the tests left broken: {'; '.join(healed)}" in result.stdout
    nodes = docker_objects.node_containers(docker_client, cluster)
    assert [node.status for node in nodes] == ["running"] * 3
    assert all(link_faults.applied(node) == [] for node in nodes)
    assert readiness.check(cluster.names.monitor_targets).ready


def leftover(docker_client, *, owner: str) -> Project:
    """A throw-away project's folder, network and volumes, as a session killed after `up`
    began leaves them; `owner` is "dead" (a process that ended), "alive" (this one) or
    "gone" (the folder removed, the Docker objects left)."""
    root = Path(tempfile.mkdtemp(prefix=f"{naming.PYTEST_RELEASE_PREFIX}-"))
    project = throwaway_project(root, prefix=naming.PYTEST_RELEASE_PREFIX)
    docker_objects.ensure_network(docker_client, project)
    for index in range(project.names.replicas):
        docker_objects.ensure_volume(docker_client, project, project.names.volume(index))
    if owner == "dead":
        ended = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        record = {"pid": int(ended.stdout), "started": "1", "host": socket.gethostname()}
        project.layout.owner_file.write_text(json.dumps(record))
    elif owner == "gone":
        shutil.rmtree(root)
    return project


def objects_of(docker_client, project: Project) -> int:
    selector = project.names.any_selector
    return len(docker_client.networks.list(filters=selector)) + len(
        docker_client.volumes.list(filters=selector)
    )


def test_what_a_killed_session_left_is_removed_by_invoke_down_and_the_next_session(
    docker_client, tmp_path, cluster
):
    dead, gone, alive = (leftover(docker_client, owner=o) for o in ("dead", "gone", "alive"))
    try:
        spec = write_spec(tmp_path / "other")  # a cluster that is not running: down sweeps
        result = invoke("down", "--spec", str(spec))
        assert result.returncode == 0, result.stderr
        swept = sorted([dead.names.fullname, gone.names.fullname])
        assert f"ended pytest sessions left behind: {', '.join(swept)}" in result.stdout
        assert objects_of(docker_client, dead) == objects_of(docker_client, gone) == 0
        assert not dead.spec.root.exists()
        assert objects_of(docker_client, alive) == 4 and alive.spec.root.exists()

        later = leftover(docker_client, owner="dead")
        folder = write_tests(
            tmp_path / "suite",
            FACTS
            + """
    def test_nothing(courtyard_cluster):
        pass
    """,
        )
        session = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))
        assert session.returncode == 0, session.stdout + session.stderr
        assert f"left behind: {later.names.fullname}" in session.stdout
        assert objects_of(docker_client, later) == 0 and not later.spec.root.exists()
    finally:
        for project in (dead, gone, alive):
            remove_throwaway(docker_client, project)


def test_a_session_killed_outright_has_its_cluster_removed_by_its_reaper(docker_client, tmp_path):
    """SIGKILL runs no cleanup at all; the reaper the session started removes the cluster
    once the session's process has ended, with no later session or `invoke down`."""
    folder = write_tests(
        tmp_path / "suite",
        FACTS
        + """
    import os, signal

    def test_dies_outright(courtyard_cluster):
        record(name=courtyard_cluster.name, root=str(courtyard_cluster.project.spec.root))
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    session = run_pytest(folder, "--courtyard-ephemeral")
    left = facts(folder)
    assert session.returncode == -signal.SIGKILL, session.stdout + session.stderr
    selector = naming.cluster_selector(left["name"])

    def what_is_left() -> list[str]:
        found = [c.name for c in docker_client.containers.list(all=True, filters=selector)]
        found += [n.name for n in docker_client.networks.list(filters=selector)]
        found += [v.name for v in docker_client.volumes.list(filters=selector)]
        return found + ([left["root"]] if Path(left["root"]).exists() else [])

    try:
        poll(what_is_left, what="the reaper to remove the cluster", timeout=60, done=operator.not_)
    finally:
        if Path(left["root"]).exists():
            remove_throwaway(
                docker_client, load_project(Path(left["root"]) / "config/courtyard.yaml")
            )


CTRL_C_DURING_REMOVAL = """
    import json, os, pathlib, signal

    from courtyard.runtime import docker_objects

    real_purge = docker_objects.purge

    def interrupted_purge(client, project):
        # A real Ctrl-C, arriving as the session starts removing its throw-away cluster.
        pathlib.Path(__file__).with_name("facts.json").write_text(json.dumps(
            {"name": project.names.fullname, "root": str(project.spec.root)}))
        os.kill(os.getpid(), signal.SIGINT)
        real_purge(client, project)

    docker_objects.purge = interrupted_purge
"""


def test_ctrl_c_while_the_session_removes_its_cluster_waits_until_it_is_all_gone(
    docker_client, tmp_path
):
    folder = write_tests(tmp_path / "suite", "def test_nothing(courtyard_cluster):\n    pass\n")
    (folder / "conftest.py").write_text(textwrap.dedent(CTRL_C_DURING_REMOVAL))
    session = run_pytest(folder, "--courtyard-ephemeral")
    left = facts(folder)
    try:
        assert session.returncode == 2, session.stdout + session.stderr  # interrupted
        selector = naming.cluster_selector(left["name"])
        assert docker_client.containers.list(all=True, filters=selector) == []
        assert docker_client.networks.list(filters=selector) == []
        assert docker_client.volumes.list(filters=selector) == []
        assert not Path(left["root"]).exists()  # the folder with the CA key
    finally:
        if Path(left["root"]).exists():
            remove_throwaway(
                docker_client, load_project(Path(left["root"]) / "config/courtyard.yaml")
            )


def test_two_sessions_at_once_each_get_a_throwaway_cluster_and_keep_leaves_one_running(
    docker_client, tmp_path
):
    source = (
        FACTS
        + """
    def test_acked_publish_on_a_replicated_stream(courtyard_cluster, courtyard_namespace):
        async def main():
            nc = await courtyard_cluster.connect()
            js = nc.jetstream()
            await js.add_stream(name=courtyard_namespace.stream("S"),
                                subjects=[courtyard_namespace.subject(">")], num_replicas=3)
            subject = courtyard_namespace.subject("hello")
            ack = await until_reachable(lambda: js.publish(subject, b"hi"))
            await nc.close()
            return ack.seq
        assert asyncio.run(main()) == 1
        record(name=courtyard_cluster.name, servers=courtyard_cluster.servers,
               spec=str(courtyard_cluster.spec_file))
    """
    )
    kept, removed = write_tests(tmp_path / "kept", source), write_tests(tmp_path / "gone", source)
    sessions = [
        subprocess.Popen(
            pytest_command(kept, "--courtyard-ephemeral", "--courtyard-keep"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=kept,
        ),
        subprocess.Popen(
            pytest_command(removed, "--courtyard-ephemeral"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=removed,
        ),
    ]
    outputs = [session.communicate(timeout=180)[0] for session in sessions]
    kept_project = None
    try:
        if (kept / "facts.json").exists():
            kept_project = load_project(facts(kept)["spec"])
        assert [s.returncode for s in sessions] == [0, 0], "\n".join(outputs)
        one, other = facts(kept), facts(removed)
        assert one["name"] != other["name"]
        assert not set(one["servers"]) & set(other["servers"])
        assert f"kept {one['name']} running (--courtyard-keep)" in outputs[0]
        assert f"COURTYARD_SPEC={one['spec']} invoke down --volumes" in outputs[0]
        assert all(
            c.status == "running"
            for c in docker_objects.node_containers(docker_client, kept_project)
        )
        assert readiness.check(kept_project.names.monitor_targets).ready
        assert f"removed {other['name']}" in outputs[1]
        assert docker_client.containers.list(all=True, filters={"name": other["name"]}) == []
        assert not Path(other["spec"]).exists()
        # Kept means kept: the sweep of `invoke down` and of the next session leave it, and
        # the summary's "reuse it" command works.
        swept = invoke("down", "--spec", str(write_spec(tmp_path / "other")))
        assert swept.returncode == 0 and one["name"] not in swept.stdout, swept.stdout
        again = run_pytest(kept, "--courtyard-spec", one["spec"])
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"tests used the running cluster {one['name']}" in again.stdout
        assert readiness.check(kept_project.names.monitor_targets).ready
    finally:
        if kept_project is not None:
            remove_throwaway(docker_client, kept_project)


def test_async_tests_under_pytest_asyncio_use_the_same_fixtures(cluster, tmp_path):
    folder = write_tests(
        tmp_path / "suite",
        """
    import pytest

    @pytest.mark.asyncio
    async def test_acked_publish(courtyard_cluster, courtyard_namespace):
        nc = await courtyard_cluster.connect(nodes=[1])
        js = nc.jetstream()
        await js.add_stream(name=courtyard_namespace.stream("S"),
                            subjects=[courtyard_namespace.subject(">")], num_replicas=3)
        from courtyard.checks.workload import until_reachable

        subject = courtyard_namespace.subject("hello")
        ack = await until_reachable(lambda: js.publish(subject, b"hi"))
        await nc.close()
        assert ack.seq == 1
    """,
    )

    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "1 test namespace(s) cleaned" in result.stdout


needs_links = pytest.mark.skipif(
    link_faults.unavailable_reason() is not None, reason=link_faults.unavailable_reason() or ""
)


@needs_links
def test_a_session_killed_inside_a_fault_is_healed_by_the_next_session(
    cluster, docker_client, tmp_path
):
    """SIGKILL inside `with partition(1)`: nothing of the session's end runs. The next session
    given the spec heals what the dead one left, then uses the spec's cluster."""
    spec = str(cluster.spec_file)
    killed = write_tests(
        tmp_path / "killed",
        """
        import os, signal

        def test_dies_inside_a_partition(courtyard_cluster):
            with courtyard_cluster.partition(1):
                os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    assert run_pytest(killed, "--courtyard-spec", spec).returncode == -signal.SIGKILL
    node = docker_objects.node_containers(docker_client, cluster)[1]
    assert link_faults.applied(node) == ["partition"]

    after = write_tests(
        tmp_path / "after",
        "def test_on_the_spec_cluster(courtyard_cluster):\n"
        "    assert not courtyard_cluster.ephemeral\n",
    )
    result = run_pytest(after, "--courtyard-spec", spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"healed first what ended test sessions left broken on {cluster.names.fullname}: "
        f"{cluster.names.pod(1)}: partition"
    ) in result.stdout
    assert f"tests used the running cluster {cluster.names.fullname}" in result.stdout
    assert link_faults.applied(node) == []
    assert not list(cluster.layout.session_marks.glob("*.json"))
    assert readiness.check(cluster.names.monitor_targets).ready


@needs_links
def test_a_session_stopped_by_sigterm_inside_a_fault_heals_it_itself(
    cluster, docker_client, tmp_path
):
    folder = write_tests(
        tmp_path / "terminated",
        """
        import os, signal, time

        def test_terminated_inside_a_partition(courtyard_cluster):
            with courtyard_cluster.partition(1):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(60)
        """,
    )
    result = run_pytest(folder, "--courtyard-spec", str(cluster.spec_file))
    assert result.returncode == 2, result.stdout + result.stderr  # pytest: interrupted
    assert "KeyboardInterrupt" in result.stdout
    node = docker_objects.node_containers(docker_client, cluster)[1]
    assert link_faults.applied(node) == []
    assert not list(cluster.layout.session_marks.glob("*.json"))
    assert readiness.check(cluster.names.monitor_targets).ready


@needs_links
def test_a_fault_made_by_hand_is_left_to_the_user_and_the_summary_says_so(
    cluster, docker_client, tmp_path
):
    spec = str(cluster.spec_file)
    made = invoke("fault", "partition", "--node", "1", "--spec", spec)
    assert made.returncode == 0, made.stderr
    try:
        folder = write_tests(tmp_path / "suite", "def test_nothing(courtyard_cluster):\n    pass\n")
        result = run_pytest(folder, "--courtyard-spec", spec)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            f"it has faults that `invoke fault` or a running session made "
            f"({cluster.names.pod(1)}: partition): `invoke up` heals them"
        ) in result.stdout
        node = docker_objects.node_containers(docker_client, cluster)[1]
        assert link_faults.applied(node) == ["partition"]
    finally:
        assert invoke("up", "--spec", spec).returncode == 0
    assert readiness.check(cluster.names.monitor_targets).ready

"""Faults a service test asks for through the plugin's hub: each shows as the servers see it
while its block runs, and the cluster is whole and ready again when the block ends.

The module shares one cluster of its own: every fault heals, so each test starts on a
ready cluster (the fixture checks that at the end too).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time

import pytest
from nats.errors import Error as NatsError

from courtyard.checks import readiness
from courtyard.checks.status import cluster_status
from courtyard.checks.workload import create_stream, until_reachable
from courtyard.core.errors import CourtyardError
from courtyard.runtime import docker_objects, link_faults
from courtyard.servers import jsz, monitor
from courtyard.servers.natsclient import run_quietly
from courtyard.testing.hub import Hub
from tests.helpers import REPO, invoke
from tests.integration.conftest import quiet_up, running_cluster

LINKS = link_faults.unavailable_reason()
needs_links = pytest.mark.skipif(LINKS is not None, reason=LINKS or "")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker_client):
    with running_cluster(tmp_path_factory, docker_client) as project:
        hub = Hub(project, docker_client)
        yield hub
        assert readiness.check(project.names.monitor_targets).ready


def statuses(hub: Hub) -> list[str]:
    return [c.status for c in docker_objects.node_containers(hub.client, hub.project)]


def monitor_port(hub: Hub, index: int) -> int:
    return hub.project.names.monitor_host_port(index)


async def new_stream(nc, replicas: int = 3) -> tuple[str, str]:
    name = f"F_{secrets.token_hex(4)}"
    await create_stream(nc.jetstream(), name=name, subjects=[f"{name}.>"], num_replicas=replicas)
    return name, f"{name}.x"


@needs_links
def test_a_partitioned_node_loses_its_peers_while_its_clients_stay_on_it(hub):
    async def main():
        on_node = await hub.connect(nodes=[1])
        majority = await hub.connect(nodes=[0])
        _, subject = await new_stream(majority)
        disconnects = []

        async def disconnected():
            disconnects.append(True)

        watcher = await hub.connect(nodes=[1], disconnected_cb=disconnected)
        async with hub.partition_async(1) as fault:
            cut_off = monitor.peers_of(monitor_port(hub, 1))
            others = [monitor.peers_of(monitor_port(hub, i)) for i in (0, 2)]
            # The majority elects whatever leader it lacks and takes acknowledged publishes.
            ack = await until_reachable(
                lambda: majority.jetstream().publish(subject, b"majority", timeout=1),
                timeout=30,
                also=(NatsError, TimeoutError),
            )
            # The minority node's client is still connected, to a node without JetStream.
            with pytest.raises((NatsError, TimeoutError)):
                await on_node.jetstream(timeout=1).publish(subject, b"minority")
            still_on_it = on_node.is_connected and on_node.connected_url.port
            dropped = len(disconnects)  # (closing a client calls the callback too)
            status = await asyncio.to_thread(cluster_status, hub.client, hub.project)
        after = await until_reachable(
            lambda: on_node.jetstream().publish(subject, b"healed", timeout=2),
            also=(NatsError, TimeoutError),
        )
        for nc in (on_node, majority, watcher):
            await nc.close()
        return fault, cut_off, others, ack, still_on_it, after, dropped, status

    fault, cut_off, others, ack, still_on_it, after, dropped, status = run_quietly(main())
    pod = hub.project.names.pod(1)
    assert (fault.node, fault.pod) == (1, pod)
    assert cut_off == set()
    assert all(pod not in peers and len(peers) == 1 for peers in others)
    assert ack.seq == 1
    assert still_on_it == hub.project.names.client_host_port(1)
    assert dropped == 0  # a partition is not a disconnect for the node's clients
    assert not status.healthy
    assert f"{pod}: fault on its links (partition); `invoke up` heals it" in status.problems
    assert status.nodes[1].container == "running, partition"
    assert after.seq == 2  # the minority's refused publish stored nothing
    node = docker_objects.node_containers(hub.client, hub.project)[1]
    assert link_faults.applied(node) == []
    assert readiness.check(hub.project.names.monitor_targets).ready


@needs_links
def test_isolated_clients_are_moved_off_the_node_while_its_routes_stay(hub):
    async def main():
        moved = asyncio.Event()

        async def reconnected():
            moved.set()

        nc = await hub.connect(nodes=[2, 0], reconnected_cb=reconnected)
        async with hub.isolate_clients_async(hub.server_of(nc)) as fault:
            await asyncio.wait_for(moved.wait(), 10)
            now_on = nc.connected_url.port
            peers = monitor.peers_of(monitor_port(hub, 2))
            with pytest.raises((NatsError, OSError, TimeoutError)):
                await hub.connect(nodes=[2], max_reconnect_attempts=0, allow_reconnect=False)
        back = await hub.connect(nodes=[2])
        back_on = back.connected_url.port
        await back.close()
        await nc.close()
        return fault, now_on, peers, back_on

    fault, now_on, peers, back_on = run_quietly(main())
    names = hub.project.names
    assert fault.node == 2
    assert now_on == names.client_host_port(0)
    assert len(peers) == 2
    assert back_on == names.client_host_port(2)


def test_killing_the_meta_leader_elects_another_and_the_node_comes_back(hub):
    before = jsz.meta_leader(hub.project.names.monitor_targets)
    with hub.kill(hub.meta_leader) as fault:
        during = statuses(hub)[fault.node]
        others = [t for i, t in enumerate(hub.project.names.monitor_targets) if i != fault.node]
        new_leader = readiness.poll_cluster(hub.project, others, 30).leaders
    assert fault.pod == before
    assert during == "exited"
    assert new_leader and before not in new_leader
    assert statuses(hub) == ["running"] * 3
    assert hub.stopped == set()


def test_a_lame_duck_stop_moves_the_stream_leader_away_first(hub):
    async def main():
        nc = await hub.connect()
        stream, _ = await new_stream(nc)
        async with hub.stop_async(hub.stream_leader(stream)) as fault:
            during = statuses(hub)[fault.node]
            info = await until_reachable(
                lambda: nc.jetstream().stream_info(stream), also=(NatsError, TimeoutError)
            )
        await nc.close()
        return fault, during, info.cluster.leader

    fault, during, leader_during = run_quietly(main())
    assert "lame duck" in fault.detail
    assert during == "exited"
    assert leader_during and leader_during != fault.pod
    assert statuses(hub) == ["running"] * 3


def test_a_paused_node_is_resumed_when_the_block_fails(hub):
    with pytest.raises(RuntimeError, match="the test failed"), hub.pause("0") as fault:
        assert statuses(hub)[0] == "paused"
        raise RuntimeError("the test failed")
    assert fault.node == 0
    assert statuses(hub) == ["running"] * 3
    assert readiness.check(hub.project.names.monitor_targets).ready


def test_the_async_twins_keep_the_event_loop_running_through_break_and_heal(hub):
    async def main():
        ticks = 0
        done = asyncio.Event()

        async def tick():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        async with hub.kill_async(1):
            while_killed = ticks
        ticks_in_heal = ticks - while_killed
        refused = None
        try:
            with hub.kill(1):
                pass
        except CourtyardError as exc:
            refused = str(exc)
        done.set()
        await ticker
        return ticks_in_heal, refused

    ticks_in_heal, refused = asyncio.run(main())
    # Starting node 1 again and the readiness wait take over a second: a blocked loop ticks
    # once at most.
    assert ticks_in_heal > 10
    assert (
        refused
        == "kill blocks and this is async code; use `await courtyard_cluster.kill_async(...)`"
    )


def test_a_node_named_wrongly_is_one_sentence_and_nothing_breaks(hub):
    wrong_index = pytest.raises(
        CourtyardError, match=r"there is no node 5; cluster .* has nodes 0 to 2"
    )
    with wrong_index, hub.pause(5):
        pass
    no_stream = pytest.raises(CourtyardError, match="no node names a leader for stream 'NOPE'")
    with no_stream, hub.kill(hub.stream_leader("NOPE")):
        pass
    assert statuses(hub) == ["running"] * 3


@needs_links
def test_full_loss_towards_clients_makes_the_node_unreachable_but_keeps_its_routes(hub):
    async def main():
        async with hub.slow_async(0, loss=100, towards="clients"):
            peers = monitor.peers_of(monitor_port(hub, 0))
            try:
                await hub.connect(nodes=[0], allow_reconnect=False, connect_timeout=1)
            except (NatsError, OSError, TimeoutError) as exc:
                refused = type(exc).__name__
            else:
                refused = None
        back = await hub.connect(nodes=[0])
        await back.close()
        return peers, refused

    peers, refused = run_quietly(main())
    assert len(peers) == 2
    assert refused is not None


@needs_links
def test_latency_is_added_where_the_kernel_has_netem_and_said_plainly_where_not(hub):
    async def main():
        nc = await hub.connect(nodes=[2])
        try:
            async with hub.slow_async(2, delay_ms=200):
                loop = asyncio.get_running_loop()
                started = loop.time()
                await nc.flush()
                return loop.time() - started
        finally:
            await nc.close()

    try:
        round_trip = run_quietly(main())
    except link_faults.LinkFaultUnavailable as exc:
        assert "no netem queueing discipline" in str(exc)
        assert all(
            link_faults.applied(c) == []
            for c in docker_objects.node_containers(hub.client, hub.project)
        )
        pytest.skip(str(exc))
    assert round_trip >= 0.2


@needs_links
def test_faults_left_behind_are_healed_by_the_next_up(hub):
    hub.faults.apply("partition", 2)
    hub.faults.apply("isolate-clients", 0)
    hub.faults.apply("pause", 1)
    hub.faults.active.clear()  # as a crashed session leaves them: nobody to heal them

    output = quiet_up(hub.project)

    pods = hub.project.names.pods
    assert f"{pods[1]} unpaused (was paused)" in output
    assert f"{pods[2]}'s links healed (was: partition)" in output
    assert f"{pods[0]}'s links healed (was: isolate-clients)" in output
    nodes = docker_objects.node_containers(hub.client, hub.project)
    assert [link_faults.applied(c) for c in nodes] == [[], [], []]
    assert readiness.check(hub.project.names.monitor_targets).ready


def test_invoke_fault_breaks_by_hand_and_says_how_to_heal(hub):
    spec = str(hub.spec_file)
    held = invoke("fault", "kill", "--meta-leader", "--for", "1", "--json", "--spec", spec)
    assert held.returncode == 0, held.stderr
    report = json.loads(held.stdout)
    assert report["kind"] == "kill" and report["healed_in_s"] > 0
    assert statuses(hub) == ["running"] * 3

    left = invoke("fault", "pause", "--node", hub.project.names.pod(2), "--spec", spec)
    assert left.returncode == 0, left.stderr
    assert "`invoke up` heals it" in left.stdout
    assert statuses(hub)[2] == "paused"
    healed = invoke("up", "--spec", spec)
    assert healed.returncode == 0, healed.stderr
    assert statuses(hub) == ["running"] * 3

    wrong = invoke("fault", "pause", "--node", "7", "--spec", spec)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == "courtyard: there is no node 7; cluster " + (
        f"{hub.name} has nodes 0 to 2"
    )


def held_partition(hub: Hub) -> subprocess.Popen:
    """`invoke fault partition --node 1 --for 30`, returned once node 1 is cut off."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "fault", "partition", "--node", "1",
         "--for", "30", "--spec", str(hub.spec_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    node = docker_objects.node_containers(hub.client, hub.project)[1]
    for line in proc.stdout:  # the step line comes once the partition shows
        if "Fault partition" in line:
            break
    assert proc.poll() is None, proc.stderr.read()
    assert link_faults.applied(node) == ["partition"]
    return proc


@needs_links
def test_two_quick_ctrl_cs_during_a_held_fault_still_heal_all_of_it(hub):
    """The second Ctrl-C lands in the heal (about 50 ms after the first): the heal finishes,
    then the task stops and says so."""
    node = docker_objects.node_containers(hub.client, hub.project)[1]
    for _ in range(3):
        proc = held_partition(hub)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert link_faults.applied(node) == [], stderr
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert stderr.strip().startswith("courtyard: interrupted"), stderr
        assert f"{hub.project.names.pod(1)}'s partition is undone" in stderr or (
            "is healed and the cluster is ready" in stderr
        ), stderr
    hub.faults.wait_ready()


@needs_links
def test_sigterm_during_a_held_fault_heals_it_as_ctrl_c_does(hub):
    node = docker_objects.node_containers(hub.client, hub.project)[1]
    proc = held_partition(hub)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert link_faults.applied(node) == [], stderr
    assert proc.returncode == 130
    assert stderr.strip() == (
        f"courtyard: interrupted after {stderr.split('after ')[1].split('s;')[0]}s; "
        f"{hub.project.names.pod(1)} is healed and the cluster is ready"
    )
    assert readiness.check(hub.project.names.monitor_targets).ready

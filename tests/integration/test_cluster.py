"""`invoke up` and friends against a real Docker engine, a real nats-server and nats-py."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import yaml

from courtyard.artefacts import pki
from courtyard.artefacts.compose import NETWORK_KEY, write_compose
from courtyard.artefacts.node_containers import node_definitions
from courtyard.checks import readiness
from courtyard.checks.status import cluster_status
from courtyard.checks.workload import create_stream, publish_once_reachable
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project import naming
from courtyard.project.naming import local_image
from courtyard.runtime import containers, docker_objects
from courtyard.runtime.extra_node import extra_node
from courtyard.runtime.teardown import down
from courtyard.servers import monitor
from courtyard.servers.natsclient import connect as nats_connect
from tests.helpers import invoke
from tests.integration.conftest import busybox_image, quiet_up

RESOLVER_IMAGE = "courtyard-test/resolver:1"


def ids(client, project):
    return {c.name: c.id for c in docker_objects.our_containers(client, project)}


def node_ips(client, project):
    network = project.names.network
    return {
        c.name: c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        for c in docker_objects.our_containers(client, project)
    }


def resolver_image(client):
    """A real resolver inside the network: busybox nslookup."""
    return busybox_image(
        client,
        RESOLVER_IMAGE,
        'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n',
    )


def resolve_inside(client, project, names_to_resolve):
    """Answers of Docker's DNS inside the cluster network: name -> set of IPs."""
    script = "; ".join(
        f"echo '=== {n}'; /bin/busybox nslookup {n} 127.0.0.11" for n in names_to_resolve
    )
    resolver = containers.create(
        client,
        containers.ContainerDefinition(
            image=resolver_image(client),
            name=f"{project.names.fullname}-resolver",
            network=project.names.network,
            labels=project.names.labels(project.spec_file),
            command=["sh", "-c", script],
        ),
    )
    try:
        resolver.start()
        resolver.wait(timeout=60)
        output = resolver.logs().decode()
    finally:
        resolver.remove(force=True)
    answers: dict[str, set[str]] = {}
    for block in output.split("=== ")[1:]:
        name, _, rest = block.partition("\n")
        after_server = rest.split("Name:", 1)[1] if "Name:" in rest else ""
        answers[name.strip()] = set(re.findall(r"Address:\s*([0-9.]+)", after_server))
    return answers


def test_up_from_nothing_is_ready(docker_client, cluster):
    state = readiness.check(cluster.names.monitor_targets)
    assert state.ready, state.problems
    status = cluster_status(docker_client, cluster)
    assert status.healthy
    assert [n.server_name for n in status.nodes] == cluster.names.pods
    assert {n.peers for n in status.nodes} == {"2/2"}


def test_status_json_for_machines(cluster):
    proc = invoke("status", "--json", "--spec", str(cluster.spec.path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] and [n["node"] for n in report["nodes"]] == cluster.names.pods


def test_ports_are_published_on_loopback_only(docker_client, cluster):
    for container in docker_objects.our_containers(docker_client, cluster):
        for bindings in container.attrs["HostConfig"]["PortBindings"].values():
            assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_every_alias_resolves_to_the_right_node(docker_client, cluster):
    names, ips = cluster.names, node_ips(docker_client, cluster)
    wanted = [alias for i in range(names.replicas) for alias in names.pod_aliases(i)]
    answers = resolve_inside(docker_client, cluster, wanted + names.shared_aliases)
    for i, pod in enumerate(names.pods):
        for alias in names.pod_aliases(i):
            assert answers[alias] == {ips[pod]}, alias
    for alias in names.shared_aliases:
        assert answers[alias] == set(ips.values()), alias


def test_extra_node_routes_to_fqdn_aliases_and_joins_all(docker_client, cluster):
    names, layout = cluster.names, cluster.layout
    routes = [
        f"tls://{names.pod_fqdn(i)}:{cluster.spec.ports.cluster}" for i in range(names.replicas)
    ]
    with extra_node(
        docker_client,
        cluster,
        local_image(),
        f"{names.fullname}-probe",
        routes,
        layout.cert("route").read_bytes(),
        layout.key("route").read_bytes(),
        layout.ca_cert.read_bytes(),
    ) as node:
        try:
            peers = poll(
                lambda: monitor.peers_of(node.monitor_port),
                what="the probe node to route to every pod",
                timeout=30,
                interval=0.2,
                done=lambda found: found >= set(names.pods),
            )
        except WaitTimeout as exc:
            peers = exc.last
        assert peers >= set(names.pods), f"probe routes: {peers}\n{node.logs()}"


def test_second_up_changes_nothing(docker_client, cluster):
    before = ids(docker_client, cluster)
    quiet_up(cluster)
    assert ids(docker_client, cluster) == before


def test_status_fails_with_a_node_stopped_and_up_restarts_it(docker_client, own_cluster):
    cluster = own_cluster
    victim = docker_objects.get_container(docker_client, cluster.names.pod(2))
    victim.stop(timeout=5)
    status = cluster_status(docker_client, cluster)
    assert not status.healthy
    assert status.nodes[2].container == "exited"
    proc = invoke("status", "--spec", str(cluster.spec.path), timeout=60)
    assert proc.returncode == 1 and "not healthy" in proc.stderr and "Traceback" not in proc.stderr
    before = ids(docker_client, cluster)
    output = quiet_up(cluster)
    assert ids(docker_client, cluster) == before  # restarted, not recreated
    assert "restarted (was exited)" in output and "released together" not in output  # no gate
    assert cluster_status(docker_client, cluster).healthy


async def _publish(project, stream, count):
    nc = await nats_connect(project)
    js = nc.jetstream()
    await create_stream(js, name=stream, subjects=[f"{stream}.>"], num_replicas=3)
    # The first publish may reach a node the new stream's interest has not crossed to yet.
    await publish_once_reachable(js, f"{stream}.m", b"0")
    for i in range(1, count):
        await js.publish(f"{stream}.m", f"{i}".encode())
    await nc.close()


async def _stream_messages(project, stream):
    nc = await nats_connect(project)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.state.messages
    except Exception as exc:  # the stream is gone
        return type(exc).__name__
    finally:
        await nc.close()


def test_stream_survives_down_and_up_and_down_volumes_removes_it(docker_client, own_cluster):
    cluster = own_cluster
    asyncio.run(_publish(cluster, "KEEP", 25))
    report = down(docker_client, cluster)
    assert len(report.containers) == 3 and report.network and report.volumes == []
    assert all(docker_objects.get_volume(docker_client, cluster.names.volume(i)) for i in range(3))
    quiet_up(cluster)
    assert asyncio.run(_stream_messages(cluster, "KEEP")) == 25
    report = down(docker_client, cluster, volumes=True)
    assert sorted(report.volumes) == sorted(cluster.names.volume(i) for i in range(3))
    quiet_up(cluster)
    assert asyncio.run(_stream_messages(cluster, "KEEP")) == "NotFoundError"


def test_keys_never_reach_a_container_but_their_own(docker_client, cluster):
    for container in docker_objects.our_containers(docker_client, cluster):
        sources = {m["Source"] for m in container.attrs["Mounts"] if m["Type"] == "bind"}
        assert str(cluster.layout.ca_key) not in sources
        assert all(not m["RW"] for m in container.attrs["Mounts"] if m["Type"] == "bind")
    assert pki.load_key(cluster.layout.ca_key)


def test_exported_compose_file_describes_the_containers_up_made(docker_client, cluster):
    """The Compose export against what `up` really created (container inspect), not
    against the objects that wrote the file."""
    running = {c.name: c for c in docker_objects.our_containers(docker_client, cluster)}
    image = running[cluster.names.pod(0)].attrs["Config"]["Image"]
    path = write_compose(cluster, node_definitions(cluster, image))
    doc = yaml.safe_load(path.read_text())
    assert doc["networks"][NETWORK_KEY]["name"] == cluster.names.network
    assert sorted(doc["services"]) == sorted(running)
    for name, service in doc["services"].items():
        attrs = running[name].attrs
        config, host = attrs["Config"], attrs["HostConfig"]
        assert (service["image"], service["hostname"]) == (config["Image"], config["Hostname"])
        assert (service["entrypoint"], service["command"]) == (config["Entrypoint"], config["Cmd"])
        endpoint = attrs["NetworkSettings"]["Networks"][doc["networks"][NETWORK_KEY]["name"]]
        assert set(service["networks"][NETWORK_KEY]["aliases"]) <= set(endpoint["Aliases"])
        published = {
            f"{b['HostIp']}:{b['HostPort']}:{port.split('/')[0]}"
            for port, bindings in host["PortBindings"].items()
            for b in bindings
        }
        assert set(service["ports"]) == published
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        for entry in service["volumes"]:
            source, target, *mode = entry.split(":")
            mount = mounts.pop(target)
            if mount["Type"] == "bind":
                assert (path.parent / source).resolve() == Path(mount["Source"]).resolve()
                assert mode == ["ro"] and not mount["RW"]
            else:
                assert (mount["Name"], mount["RW"]) == (source, True)
        assert mounts == {}, f"{name} mounts more than the Compose service: {sorted(mounts)}"
        # Compose sets the same labels, apart from the fingerprint `up` adds and those the
        # image itself carries.
        compose_labels = {
            k: v for k, v in service["labels"].items() if k != naming.CREATED_BY_LABEL
        }
        inherited = docker_client.images.get(config["Image"]).labels or {}
        set_by_up = {
            k: v
            for k, v in config["Labels"].items()
            if k != naming.HASH_LABEL and inherited.get(k) != v
        }
        assert compose_labels.items() <= config["Labels"].items()
        assert set_by_up.items() <= compose_labels.items()

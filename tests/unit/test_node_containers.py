"""The node container definition and its fingerprint: what decides whether a node is replaced."""

from __future__ import annotations

import base64
import stat

from courtyard.artefacts.certs import ensure_certs
from courtyard.artefacts.node_containers import node_definitions
from courtyard.artefacts.nodeconf import write_configs
from courtyard.helm.export import secret_manifests
from courtyard.project import naming


def prepared(project_factory, changes=None):
    project = project_factory(changes)
    ensure_certs(project.spec, project.names, project.layout)
    write_configs(project.spec, project.names, project.layout)
    return project


def prints(project, image="img"):
    return [node.fingerprint for node in node_definitions(project, image)]


def test_fingerprint_is_stable_while_nothing_changes(project_factory):
    project = prepared(project_factory)
    first = prints(project)
    assert prints(project) == first
    assert len(set(first)) == 3  # each node has its own (its name, ports and config differ)


def test_fingerprint_follows_the_config_not_the_certificates(project_factory):
    """A new certificate is reloaded by the running node (its folder is mounted); only a
    changed config or definition needs a new container."""
    project = prepared(project_factory)
    before = prints(project)
    route = project.layout.cert("route")
    route.write_bytes(route.read_bytes() + b"\n")
    assert prints(project) == before
    conf = project.layout.node_config(project.names.pod(1))
    conf.write_text(conf.read_text() + "# edited\n")
    again = prints(project)
    assert [a == b for a, b in zip(before, again, strict=True)] == [True, False, True]


def test_fingerprint_changes_with_the_image_and_a_missing_config(project_factory):
    project = prepared(project_factory)
    before = prints(project)
    assert prints(project, "other-image") != before
    project.layout.node_config(project.names.pod(0)).unlink()
    assert prints(project)[0] != before[0]


def test_certificate_folders_hold_exactly_the_exported_secrets(project_factory):
    project = prepared(project_factory)
    layout, names = project.layout, project.names
    by_secret = {doc["metadata"]["name"]: doc["data"] for doc in secret_manifests(project)}
    folders = {
        names.route_secret: layout.secrets / "cluster",
        names.client_secret: layout.secrets / "nats",
        names.ca_secret: layout.secrets / "ca",
    }
    for secret, folder in folders.items():
        on_disk = {p.name: p.read_bytes() for p in folder.iterdir()}
        exported = {k: base64.b64decode(v) for k, v in by_secret[secret].items()}
        assert on_disk == exported, secret
    assert stat.S_IMODE((folders[names.route_secret] / "tls.key").stat().st_mode) == 0o600
    mounts = dict(node_definitions(project, "img")[0].mounts)
    assert {
        mounts[path] for path in (naming.ROUTE_TLS_DIR, naming.CLIENT_TLS_DIR, naming.CA_DIR)
    } == set(folders.values())


def test_definition_follows_the_names_module(project_factory):
    project = prepared(
        project_factory, {"host_ports": {"client": 5000, "monitor": 6000, "cluster": 7000}}
    )
    nodes = node_definitions(project, "img")
    names = project.names
    assert [n.name for n in nodes] == names.pods
    assert [(n.ports[0][1], n.ports[1][1]) for n in nodes] == [
        (names.client_host_port(i), names.monitor_host_port(i)) for i in range(3)
    ]
    assert nodes[2].ports == ((4222, 5002), (8222, 6002), (6222, 7002))
    assert nodes[0].network == names.network and nodes[0].volume == names.volume(0)
    # The config folder is mounted, as the chart mounts its ConfigMap; it holds a copy of the
    # generated config, which is what the fingerprint reads.
    assert dict(nodes[0].mounts)[naming.CONFIG_DIR] == project.layout.node_config_mount(
        names.pod(0)
    )
    assert nodes[0].config_file == project.layout.node_config(names.pod(0))
    assert nodes[0].mounted_config == project.layout.node_config_mount(names.pod(0)) / "nats.conf"
    assert nodes[0].entrypoint + nodes[0].command == ["nats-server", "--config", naming.CONFIG_FILE]

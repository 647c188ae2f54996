"""The Compose file equals what the Docker runtime creates for the same spec."""

from __future__ import annotations

from pathlib import Path

import yaml

from courtyard.artefacts.certs import ensure_certs
from courtyard.artefacts.compose import NETWORK_KEY, write_compose
from courtyard.artefacts.node_containers import node_definitions
from courtyard.artefacts.nodeconf import write_configs
from courtyard.project import naming
from courtyard.project.naming import local_image, official_image


def exported(project_factory, image):
    project = project_factory()
    ensure_certs(project.spec, project.names, project.layout)
    write_configs(project.spec, project.names, project.layout)
    nodes = node_definitions(project, image)
    path = write_compose(project, nodes)
    return project, nodes, path, yaml.safe_load(path.read_text())


def test_round_trip_every_alias_mount_port_and_volume(project_factory):
    _, nodes, path, doc = exported(project_factory, local_image())
    folder = path.parent
    assert list(doc["services"]) == [node.name for node in nodes]
    for node in nodes:
        svc = doc["services"][node.name]
        assert (svc["container_name"], svc["hostname"], svc["image"]) == (
            node.name,
            node.name,
            node.image,
        )
        assert svc["entrypoint"] == node.entrypoint and svc["command"] == node.command
        assert svc["networks"][NETWORK_KEY]["aliases"] == list(node.aliases)
        assert svc["ports"] == [f"127.0.0.1:{host}:{port}" for port, host in node.ports]
        binds, volumes = {}, {}
        for entry in svc["volumes"]:
            source, target, *mode = entry.split(":")
            if source.startswith("."):
                assert mode == ["ro"], entry
                binds[target] = (folder / source).resolve()
            else:
                volumes[target] = source
        assert binds == {path_: host.resolve() for path_, host in node.mounts}
        assert volumes == {naming.STORE_DIR: node.volume}
        assert svc["labels"] == {**dict(node.labels), naming.CREATED_BY_LABEL: "compose"}
    assert {name: v["name"] for name, v in doc["volumes"].items()} == {
        n.volume: n.volume for n in nodes
    }
    assert all(
        Path(folder / s.split(":")[0]).exists()
        for svc in doc["services"].values()
        for s in svc["volumes"]
        if s.startswith(".")
    )


def test_scratch_image_says_why_there_is_no_healthcheck(project_factory):
    _, _, path, doc = exported(project_factory, local_image())
    assert "has no shell" in path.read_text()
    assert all("healthcheck" not in svc for svc in doc["services"].values())
    assert doc["services"]["skunkwolf-nats-1"]["depends_on"] == ["skunkwolf-nats-0"]


def test_official_image_gets_a_healthcheck(project_factory):
    _, _, _, doc = exported(project_factory, official_image())
    check = doc["services"]["skunkwolf-nats-0"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "wget"] and check[-1].endswith("/healthz?js-enabled-only=true")


def test_project_name_is_in_the_env_file(project_factory):
    project, _, path, _ = exported(project_factory, local_image())
    assert (path.parent / ".env").read_text() == (
        f"COMPOSE_PROJECT_NAME=courtyard-{project.names.fullname}\n"
    )

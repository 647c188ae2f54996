"""`invoke up`, `down`, `status`, `logs` and `env`: the running cluster, as people read it."""

from __future__ import annotations

import json
import threading
import time

from docker.models.containers import Container

from courtyard.artefacts import client_access
from courtyard.checks.status import cluster_status
from courtyard.commands.output import table, warn
from courtyard.commands.steps import load, load_locked
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import CROSS, TICK
from courtyard.harness.projects import sweep_leftovers
from courtyard.lifecycle import up as up_steps
from courtyard.lifecycle.prepare import rel
from courtyard.project import naming
from courtyard.runtime import docker_objects, engine, teardown


def up(
    spec: str | None, *, timeout: float, force_certs: bool, forget_departed: bool = False
) -> None:
    with load_locked(spec, "up") as project:
        started = time.monotonic()
        print(
            f"Courtyard up: {project.names.fullname}, {project.spec.replicas} node(s), "
            f"from {project.spec.path}"
        )
        up_steps.up(
            project, timeout=timeout, force_certs=force_certs, forget_departed=forget_departed
        )
        urls = ",".join(project.names.client_urls)
        identity = client_access.client_identity(project)
        print(
            f"Cluster ready in {time.monotonic() - started:.1f}s. Connect with "
            f'`eval "$(invoke env)"` (NATS_URL={urls}, mutual TLS with '
            f"{rel(project, project.layout.client_cert(identity))}); "
            "check it with `invoke smoke`."
        )


def down(spec: str | None, *, volumes: bool) -> None:
    with load_locked(spec, "down") as project:
        started = time.monotonic()
        client = engine.connect()
        report = teardown.down(client, project, volumes=volumes)
        print(
            f" {TICK} Removed {len(report.containers)} container(s)"
            + (f" ({', '.join(report.containers)})" if report.containers else "")
            + (", the network" if report.network else "")
            + (f", {len(report.volumes)} volume(s)" if volumes else "")
            + f" ({time.monotonic() - started:.2f}s)"
        )
        for thing in report.left_alone:
            warn(f"left {thing} alone: Courtyard did not create it")
        swept = sweep_leftovers(client, (naming.PYTEST_RELEASE_PREFIX,))
        if swept:
            print(
                f" {TICK} Removed {len(swept)} throw-away test cluster(s) that ended pytest "
                f"sessions left behind: {', '.join(swept)}"
            )
        if volumes:
            print("JetStream data removed; certificates kept. Next: `invoke up` starts empty.")
        else:
            print(
                "JetStream data kept in volumes; `invoke up` brings it back, "
                "`invoke down --volumes` removes it."
            )


STATUS_HEADERS = [
    "node",
    "container",
    "server_name",
    "peers",
    "meta leader",
    "streams",
    "consumers",
    "messages",
    "bytes",
    "cert expires",
]


def status(spec: str | None, *, as_json: bool) -> None:
    project = load(spec)
    report = cluster_status(engine.connect(), project)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(table(STATUS_HEADERS, [list(vars(row).values()) for row in report.nodes]))
        for message in report.warnings:
            warn(message)
        if report.healthy:
            heed = " (heed the warnings above)" if report.warnings else ""
            print(f'Healthy{heed}. Next: `invoke smoke`, or connect with `eval "$(invoke env)"`.')
        else:
            for problem in report.problems:
                print(f" {CROSS} {problem}")
    if not report.healthy:
        raise CourtyardError(
            f"cluster {report.cluster} is not healthy; run `invoke up` to "
            "bring it back, `invoke logs` to see why"
        )


def logs(spec: str | None, *, node: str | None, follow: bool, tail: int) -> None:
    project = load(spec)
    names = project.names
    indexes = list(range(names.replicas)) if node is None else [names.index_of(node)]
    found = docker_objects.node_containers(engine.connect(), project)
    containers = []
    for index in indexes:
        if found[index] is None:
            raise CourtyardError(f"no Courtyard container {names.pod(index)}; run `invoke up`")
        containers.append(found[index])
    prefix = len(containers) > 1
    if not follow:
        for container in containers:
            for line in container.logs(tail=tail).decode(errors="replace").splitlines():
                print(f"{container.name} | {line}" if prefix else line)
        return
    threads = [
        threading.Thread(target=_follow, args=(c, tail, prefix), daemon=True) for c in containers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _follow(container: Container, tail: int, prefix: bool) -> None:
    pending = b""
    for chunk in container.logs(stream=True, follow=True, tail=tail):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            print(f"{container.name} | {text}" if prefix else text, flush=True)


def env(spec: str | None, *, identity: str | None) -> None:
    project = load(spec)
    who = client_access.client_identity(project, identity)
    variables = client_access.env_vars(project, who)
    layout = project.layout
    files = (layout.ca_bundle, layout.client_cert(who), layout.client_key(who))
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise CourtyardError(
            f"{who}'s certificate files are not there yet ({', '.join(missing)}); run "
            "`invoke certs` (or `invoke up`) first"
        )
    print(client_access.shell_exports(variables))
    path = client_access.write_nats_context(project, who)
    note = ""
    if path.stem != project.names.nats_context(who):
        note = f" ({project.names.nats_context(who)} is another checkout's context, kept)"
    print(f"# nats CLI context written to {path}: nats --context {path.stem}{note}")

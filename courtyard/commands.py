"""What each invoke task does, printed for people (or as JSON); tasks.py only parses options."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from courtyard import (
    access,
    cluster,
    compose_export,
    helm_export,
    helm_verify,
    nodeconf,
    runtime,
)
from courtyard import certs as certs_mod
from courtyard import smoke as smoke_mod
from courtyard import status as status_mod
from courtyard.engine import connect
from courtyard.errors import CourtyardError
from courtyard.image import ensure_image
from courtyard.nodes import node_specs
from courtyard.output import CROSS, TICK, step, table, warn
from courtyard.pki import Usage
from courtyard.project import Project, load_project
from courtyard.sans import parse_san_list


def _load(spec: str | None) -> Project:
    project = load_project(spec)
    for message in project.spec.warnings:
        warn(message)
    return project


def _rel(project: Project, path) -> str:
    try:
        return str(path.relative_to(project.spec.root))
    except ValueError:
        return str(path)


def prepare(project: Project, *, force_certs: bool = False) -> None:
    """Certificates and node configs, each as one step line; shared by certs, configs and up."""
    with step("Certificates") as info:
        results = certs_mod.ensure_certs(project.spec, project.names, project.layout,
                                         force=force_certs)
        changed = [f"{r.label} {r.action}" + (f" ({r.reason})" if r.reason else "")
                   for r in results if r.action != "kept"]
        info["detail"] = ", ".join(changed) if changed else f"{len(results)} up to date"
    with step("Node configs checked by nats-server -t") as info:
        written = nodeconf.write_configs(project.spec, project.names, project.layout)
        nodeconf.check_configs(project.names, project.layout)
        changed_configs = [r.pod for r in written if r.changed]
        info["detail"] = (f"wrote {', '.join(changed_configs)}" if changed_configs
                          else f"{len(written)} up to date")


def certs(spec: str | None, *, force: bool, show: bool, as_json: bool) -> None:
    project = _load(spec)
    if show:
        shown = certs_mod.show_certs(project.spec, project.names, project.layout)
        if not shown:
            raise CourtyardError(f"no certificates in {project.layout.certs}; run `invoke certs`")
        if as_json:
            print(json.dumps([{"name": label, "path": str(path), **info}
                              for label, path, info in shown], indent=2))
            return
        for label, path, info in shown:
            print(f"{label}: {_rel(project, path)}")
            for key in ("subject", "issuer", "sans", "eku", "not_after", "sha256"):
                value = info[key]
                value = ", ".join(value) if isinstance(value, list) else value
                print(f"  {key:<10} {value or '-'}")
        return
    started = time.monotonic()
    results = certs_mod.ensure_certs(project.spec, project.names, project.layout, force=force)
    if as_json:
        print(json.dumps([{"name": r.label, "path": str(r.path), "action": r.action,
                           "reason": r.reason} for r in results], indent=2))
        return
    print(table(["certificate", "file", "action"],
                [(r.label, _rel(project, r.path), r.action + (f" ({r.reason})" if r.reason else ""))
                 for r in results]))
    print(f"Done in {time.monotonic() - started:.2f}s. Private keys are mode 0600 in "
          f"{_rel(project, project.layout.certs)}/. Next: `invoke configs` or `invoke up`.")


def cert(spec: str | None, *, common_name: str, out: str, unit: str | None, sans: str | None,
         route: bool, client: bool, force: bool) -> None:
    if route and client:
        raise CourtyardError("--route and --client exclude each other; choose one")
    try:
        san_list = parse_san_list(sans) if sans else []
    except ValueError as exc:
        raise CourtyardError(f"{exc}") from None
    project = _load(spec)
    usage = Usage.ROUTE if route else Usage.CLIENT if client else Usage.SERVER
    result = certs_mod.issue_adhoc(
        project.spec, project.layout, common_name=common_name, base=out,
        organizational_unit=unit, sans=san_list, usage=usage, force=force,
    )
    key = project.layout.key(out)
    print(f"{result.label}: {_rel(project, result.path)} and {_rel(project, key)} (mode 0600) "
          f"{result.action}" + (f" ({result.reason})" if result.reason else ""))
    print(f"Next: `invoke certs --show`, or use them with {_rel(project, project.layout.ca_cert)}.")


def configs(spec: str | None) -> None:
    project = _load(spec)
    prepare(project)
    print(f"Configs in {_rel(project, project.layout.nodes)}/. Next: `invoke up`.")


def up(spec: str | None, *, timeout: float, force_certs: bool) -> None:
    project = _load(spec)
    started = time.monotonic()
    print(f"Courtyard up: {project.names.fullname}, {project.spec.replicas} node(s), "
          f"from {project.spec.path}")
    cluster.up(project, timeout=timeout, prepare=lambda p: prepare(p, force_certs=force_certs))
    urls = ",".join(access.client_urls(project))
    print(f"Cluster ready in {time.monotonic() - started:.1f}s. Connect with "
          f"`eval \"$(invoke env)\"` (NATS_URL={urls}, mutual TLS with "
          f"{_rel(project, project.layout.client_cert(access.client_identity(project)))}); "
          "check it with `invoke smoke`.")


def down(spec: str | None, *, volumes: bool) -> None:
    project = _load(spec)
    started = time.monotonic()
    report = cluster.down(project, volumes=volumes)
    print(f" {TICK} Removed {len(report.containers)} container(s)"
          + (f" ({', '.join(report.containers)})" if report.containers else "")
          + (", the network" if report.network else "")
          + (f", {len(report.volumes)} volume(s)" if volumes else "")
          + f" ({time.monotonic() - started:.2f}s)")
    for thing in report.left_alone:
        warn(f"left {thing} alone: Courtyard did not create it")
    if volumes:
        print("JetStream data removed; certificates kept. Next: `invoke up` starts empty.")
    else:
        print("JetStream data kept in volumes; `invoke up` brings it back, "
              "`invoke down --volumes` removes it.")


def status(spec: str | None, *, as_json: bool) -> None:
    project = _load(spec)
    report = status_mod.cluster_status(project)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        headers = ["node", "container", "server_name", "peers", "meta leader", "streams",
                   "consumers", "messages", "bytes", "cert expires"]
        print(table(headers, [list(vars(row).values()) for row in report.nodes]))
        if report.healthy:
            print("Healthy. Next: `invoke smoke`, or connect with `eval \"$(invoke env)\"`.")
        else:
            for problem in report.problems:
                print(f" {CROSS} {problem}")
    if not report.healthy:
        raise CourtyardError(f"cluster {report.cluster} is not healthy; run `invoke up` to "
                             "bring it back, `invoke logs` to see why")


def logs(spec: str | None, *, node: str | None, follow: bool, tail: int) -> None:
    project = _load(spec)
    names = project.names
    if node is None:
        pods = names.pods
    elif node.isdigit() and int(node) < names.replicas:
        pods = [names.pod(int(node))]
    elif node in names.pods:
        pods = [node]
    else:
        raise CourtyardError(f"no node {node!r}; use an index 0-{names.replicas - 1} or one of "
                             f"{', '.join(names.pods)}")
    client = connect()
    containers = []
    for pod in pods:
        container = runtime.get_container(client, pod)
        if container is None or not runtime.carries_cluster_labels(container.labels, project):
            raise CourtyardError(f"no Courtyard container {pod}; run `invoke up`")
        containers.append(container)
    prefix = len(containers) > 1
    if not follow:
        for container in containers:
            for line in container.logs(tail=tail).decode(errors="replace").splitlines():
                print(f"{container.name} | {line}" if prefix else line)
        return
    threads = [threading.Thread(target=_follow, args=(c, tail, prefix), daemon=True)
               for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _follow(container, tail: int, prefix: bool) -> None:
    pending = b""
    for chunk in container.logs(stream=True, follow=True, tail=tail):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            print(f"{container.name} | {text}" if prefix else text, flush=True)


def env(spec: str | None, *, identity: str | None) -> None:
    project = _load(spec)
    if identity is not None and identity not in project.spec.tls.clients:
        raise CourtyardError(f"no client identity {identity!r}; the spec has "
                             f"{', '.join(project.spec.tls.clients)}")
    print(access.shell_exports(access.env_vars(project, identity)))
    path = access.write_nats_context(project, identity)
    print(f"# nats CLI context written to {path}: nats --context {access.context_name(project)}")


def export_helm(spec: str | None, *, out: str | None, secrets: bool, verify: bool,
                chart: str | None) -> None:
    project = _load(spec)
    prepare(project)
    with step("Helm values and secrets") as info:
        result = helm_export.export_helm(project, Path(out) if out else None, secrets=secrets)
        info["detail"] = ", ".join(_rel(project, p) for p in result.written)
    if result.secrets:
        warn(f"{_rel(project, result.secrets)} holds private keys (mode 0600); keep it out of "
             "git and share it only with the cluster")
    else:
        print("Create the secrets with:")
        print("\n".join(f"  {command}" for command in result.kubectl))
    if verify:
        with step("Rendered the chart with the Helm SDK and compared nats.conf") as info:
            report = helm_verify.verify(project, Path(chart) if chart else None)
            info["detail"] = report.chart
        _print_verify(report)
        if not report.ok:
            raise CourtyardError("the chart renders a cluster different from the local one; "
                                 "see the table above")
    print("Deploy with:")
    print("\n".join(f"  {command}" for command in result.deploy))


def _print_verify(report) -> None:
    if report.differences:
        print(table(["key", "local", "chart", "verdict"],
                    [(k, _short(a), _short(b), f"expected: {why}" if why else "DIFFERENT")
                     for k, a, b, why in report.differences]))
    served = sum(1 for row in report.coverage if row[2])
    print(f" {TICK if not report.uncovered else CROSS} certificates serve {served}/"
          f"{len(report.coverage)} rendered route hosts and client service names")
    for cert_name, host, _ in report.uncovered:
        print(f"   {host} is not covered by the {cert_name} certificate")
    if report.ok:
        print(f" {TICK} parity: the chart renders the same nats.conf, apart from the expected "
              "differences listed")


def _short(value) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def smoke(spec: str | None, *, messages: int, failover: bool, as_json: bool) -> None:
    project = _load(spec)
    started = time.monotonic()

    def show(result: smoke_mod.CheckResult) -> None:
        if not as_json:
            mark = TICK if result.ok else CROSS
            print(f" {mark} {result.name}: {result.detail} ({result.seconds:.2f}s)", flush=True)

    if not as_json:
        print(f"Courtyard smoke: {project.names.fullname} from {project.spec.path}")
    report = smoke_mod.run(project, messages=messages, failover=failover, on_result=show)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        print(f"All {len(report.checks)} checks passed in {time.monotonic() - started:.1f}s. "
              "Next: `invoke export-helm` to deploy the same cluster to Kubernetes.")
    failed = [check.name for check in report.checks if not check.ok]
    if failed:
        raise CourtyardError(f"{len(failed)} smoke check(s) failed: {'; '.join(failed)}")


def export_compose(spec: str | None) -> None:
    project = _load(spec)
    with step("Docker engine") as info:
        client = connect()
        info["detail"] = client.version().get("Version", "?")
    prepare(project)
    with step("Node image") as info:
        image = ensure_image(client, project.spec.image)
        info["detail"] = f"{image.tag}, {image.reason}"
    with step("Compose file") as info:
        path = compose_export.write_compose(project, node_specs(project, image.tag))
        info["detail"] = _rel(project, path)
    print(f"Run it with `docker compose -f {_rel(project, path)} up -d` (or docker-compose), "
          f"after `invoke down` if `invoke up` runs this cluster; `invoke status` and "
          "`invoke smoke` work on either.")

"""The pods of a rendered nats/nats chart, run as containers: the upgrade rehearsal.

Kubernetes itself is not at hand, so the StatefulSet the chart renders is read and each pod
run as the kubelet would run its `nats` container: its command and args, its env (field
references and `$(VAR)` expanded), the ConfigMap and Secrets as read-only folders, emptyDirs
as tmpfs, and each claim template as the named volume `<claim>-<pod>` (the PVC Kubernetes
makes). On the cluster's network every pod answers to the names its headless Service gives
it. Client and monitor ports are published on 127.0.0.1 at the spec's host ports, so every
check of Courtyard works on these pods as on its own nodes. Stopping a pod runs its preStop
hook (lame duck mode), then SIGTERM, as a rolling update does.

The image is the node image of the pinned nats-server for both charts: the rehearsal proves
the configs, names and volumes, not the 0.x release's older server binary.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container

from courtyard.checks.readiness import wait_ready
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm.export import secret_manifests
from courtyard.project.loaded import Project
from courtyard.runtime import containers, docker_objects

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# Ports by the names both charts give them.
CLIENT_PORT_NAMES = ("client", "nats")
MONITOR_PORT_NAMES = ("monitor",)


@dataclass
class ChartPod:
    name: str
    index: int
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    binds: dict[str, str] = field(default_factory=dict)  # host folder -> mount path
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> mount path
    tmpfs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    client_port: int = 4222
    monitor_port: int = 8222
    pre_stop: list[str] | None = None
    grace_seconds: int = 30


def _env(container: dict[str, Any], pod: str, namespace: str) -> dict[str, str]:
    fields = {"metadata.name": pod, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = _VAR.sub(
                lambda m: env.get(m.group(1), m.group(0)), str(item["value"])
            )
        else:
            path = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
            env[item["name"]] = fields.get(path, "")
    return env


def _port(container: dict[str, Any], names: tuple[str, ...], default: int) -> int:
    for port in container.get("ports") or []:
        if port.get("name") in names:
            return int(port["containerPort"])
    return default


def _write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        target = folder / name
        target.write_bytes(data)
        target.chmod(0o600)  # private keys among them; the server runs as root in the image
    return folder


@dataclass
class _Sources:
    """What the pods' volumes come from: the rendered ConfigMaps, the Secrets the export
    writes, the pod template's volumes and claims, and the folder their files go to."""

    configmaps: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, bytes]]
    volumes: dict[str, dict[str, Any]]
    claims: set[str]
    files_dir: Path

    def mount(self, chart_pod: ChartPod, mount: dict[str, Any]) -> None:
        """Give `chart_pod` what one of its volumeMounts needs: its own named volume for a
        claim, a read-only folder for a ConfigMap or Secret, a tmpfs for an emptyDir."""
        path, name = mount["mountPath"], mount["name"]
        if name in self.claims:
            chart_pod.volumes[f"{name}-{chart_pod.name}"] = path
            return
        volume = self.volumes.get(name) or {}
        if "configMap" in volume:
            data = self.configmaps.get(volume["configMap"]["name"], {})
            files = {key: str(value).encode() for key, value in data.items()}
            folder = _write_files(self.files_dir / chart_pod.name / name, files)
            chart_pod.binds[str(folder)] = path
        elif "secret" in volume:
            secret = volume["secret"]["secretName"]
            if secret not in self.secrets:
                raise CourtyardError(
                    f"the pods mount the Secret {secret}, which the export does not write"
                )
            folder = _write_files(self.files_dir / "secrets" / secret, self.secrets[secret])
            chart_pod.binds[str(folder)] = path
        elif "emptyDir" in volume:
            chart_pod.tmpfs.append(path)


def pods_of(objects: list[dict[str, Any]], project: Project, files_dir: Path) -> list[ChartPod]:
    """One ChartPod per replica of the rendered StatefulSet; its ConfigMap and the project's
    Secrets are written under `files_dir` for the pods to mount."""
    sts = helm_chart.statefulset(objects)
    sts_spec = sts["spec"]
    pod_spec = sts_spec["template"]["spec"]
    container = next(c for c in pod_spec["containers"] if c.get("name") == "nats")
    namespace, names = project.spec.namespace, project.names
    sources = _Sources(
        configmaps={
            o["metadata"]["name"]: o.get("data") or {}
            for o in helm_chart.kind(objects, "ConfigMap")
        },
        secrets={
            s["metadata"]["name"]: {k: base64.b64decode(v) for k, v in s["data"].items()}
            for s in secret_manifests(project)
        },
        volumes={v["name"]: v for v in pod_spec.get("volumes") or []},
        claims={c["metadata"]["name"] for c in sts_spec.get("volumeClaimTemplates") or []},
        files_dir=files_dir,
    )
    service = sts_spec["serviceName"]
    pods = []
    for index in range(int(sts_spec.get("replicas", 1))):
        pod = f"{sts['metadata']['name']}-{index}"
        host = f"{pod}.{service}"
        chart_pod = ChartPod(
            name=pod,
            index=index,
            command=container.get("command"),
            args=container.get("args"),
            env=_env(container, pod, namespace),
            aliases=list(
                dict.fromkeys(
                    [host, f"{host}.{namespace}", f"{host}.{namespace}.svc", names.fqdn(host)]
                )
            ),
            client_port=_port(container, CLIENT_PORT_NAMES, 4222),
            monitor_port=_port(container, MONITOR_PORT_NAMES, 8222),
            pre_stop=(
                ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}
            ).get("command"),
            grace_seconds=int(pod_spec.get("terminationGracePeriodSeconds") or 30),
        )
        for mount in container.get("volumeMounts") or []:
            sources.mount(chart_pod, mount)
        _make_mount_points(chart_pod)
        pods.append(chart_pod)
    return pods


def _make_mount_points(chart_pod: ChartPod) -> None:
    """A mount inside another read-only folder (the 0.x chart's `nats.config` entries sit
    inside /etc/nats-config) needs its mount point in that folder: the kubelet makes it in
    Kubernetes, here the folder on the host gets it before the container starts."""
    folders = {target: Path(source) for source, target in chart_pod.binds.items()}
    targets = [*chart_pod.binds.values(), *chart_pod.volumes.values(), *chart_pod.tmpfs]
    for target in targets:
        for parent, host in folders.items():
            inside = Path(target).relative_to(parent) if target.startswith(f"{parent}/") else None
            if inside is not None and host.is_dir():
                (host / inside).mkdir(parents=True, exist_ok=True)


def run_pod(client: docker.DockerClient, project: Project, pod: ChartPod, image: str) -> Container:
    """Start `pod` on the cluster's network, as Courtyard's node `pod.index` (its labels, its
    host ports): every check and clean-up of Courtyard applies to it."""
    names = project.names
    for volume in pod.volumes:
        docker_objects.ensure_volume(client, project, volume)
    ports = {
        pod.client_port: names.client_host_port(pod.index),
        pod.monitor_port: names.monitor_host_port(pod.index),
    }
    container = containers.create(
        client,
        containers.ContainerDefinition(
            image=image,
            name=pod.name,
            network=names.network,
            aliases=pod.aliases + names.shared_aliases,
            labels=names.labels(project.spec_file, pod.index),
            entrypoint=pod.command[:1] if pod.command else None,
            command=(pod.command or [])[1:] + (pod.args or []),
            environment=pod.env,
            read_only=pod.binds,
            volumes=pod.volumes,
            tmpfs=pod.tmpfs,
            ports=ports,
        ),
    )
    container.start()
    return container


def stop_pod(client: docker.DockerClient, pod: ChartPod) -> None:
    """As a rolling update deletes a pod: the preStop hook, then SIGTERM, then removal (its
    volume stays)."""
    container = docker_objects.get_container(client, pod.name)
    if container is None:
        return
    if pod.pre_stop:
        container.exec_run(pod.pre_stop)
    container.stop(timeout=pod.grace_seconds)
    docker_objects.remove_container(container)


def run_release(
    client: docker.DockerClient,
    project: Project,
    pods: list[ChartPod],
    image: str,
    timeout: float = 60,
) -> str:
    """Run a release's pods together (podManagementPolicy Parallel) and wait until the
    cluster is ready; the readiness summary."""
    docker_objects.ensure_network(client, project)
    for pod in pods:
        run_pod(client, project, pod, image)
    return wait_ready(client, project, project.names.monitor_targets, timeout)

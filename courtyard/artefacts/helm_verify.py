"""`invoke export-helm --verify`: render the real chart with the exported values and compare.

The chart is rendered offline by the Helm SDK for Python (`helm-python-sdk`, the `[helm]`
extra); `nats.conf` is taken from the rendered ConfigMap and compared key by key with the
node config `invoke configs` wrote. Route hosts and client Services in the rendered
manifests must be served by the certificate meant for them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from courtyard.artefacts import helm_values, natsconf
from courtyard.artefacts.tlscheck import serves
from courtyard.core.errors import CourtyardError
from courtyard.spec.project import Project


@dataclass
class VerifyReport:
    chart: str
    differences: list[tuple[str, Any, Any, str | None]] = field(default_factory=list)
    coverage: list[tuple[str, str, bool]] = field(default_factory=list)  # (cert, host, served)
    authorization: str = ""  # who may log in and do what, as the chart renders it

    @property
    def authorization_differs(self) -> bool:
        keys = ("authorization", "accounts", "system_account", "tls")
        return any(row[0].split(".")[0] in keys for row in self.unexpected)

    @property
    def unexpected(self) -> list[tuple[str, Any, Any, str | None]]:
        return [row for row in self.differences if row[3] is None]

    @property
    def uncovered(self) -> list[tuple[str, str, bool]]:
        return [row for row in self.coverage if not row[2]]

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.uncovered


def _helm():
    try:
        import helm_python
    except ImportError:
        raise CourtyardError(
            "the Helm SDK for Python is not installed; run pip install -e '.[helm]'"
        ) from None
    return helm_python


def load_chart(path: Path | None, version: str):
    """The chart at `path` (folder or .tgz), else the matching version from the nats repo."""
    helm = _helm()
    if path is None:
        with tempfile.TemporaryDirectory(prefix="courtyard-chart-") as tmp:
            try:
                helm.pull(
                    "nats", repo_url=helm_values.CHART_REPO_URL, version=version, destination=tmp
                )
            except helm.HelmError as exc:
                reason = str(exc).splitlines()[0][:200]
                raise CourtyardError(
                    f"cannot download the nats chart {version} from "
                    f"{helm_values.CHART_REPO_URL} ({reason}); pass --chart PATH to a chart "
                    "folder or .tgz"
                ) from None
            archives = sorted(Path(tmp).glob("*.tgz"))
            if not archives:
                raise CourtyardError(
                    f"the nats chart {version} download left no archive; pass --chart PATH"
                )
            return helm.Chart.load_archive(archives[0].read_bytes())
    if not path.exists():
        raise CourtyardError(f"chart {path} does not exist; pass a chart folder or .tgz")
    try:
        if path.is_dir():
            return helm.Chart.load(path)
        return helm.Chart.load_archive(path.read_bytes())
    except helm.HelmError as exc:
        raise CourtyardError(f"cannot load the chart {path}: {str(exc).splitlines()[0]}") from None


def render(project: Project, chart) -> list[dict[str, Any]]:
    """Every object the chart renders with the exported values."""
    helm = _helm()
    try:
        manifests = chart.render(
            helm_values.values(project),
            name=project.spec.release,
            namespace=project.spec.namespace,
            is_install=True,
        )
    except helm.HelmError as exc:
        raise CourtyardError(
            f"the chart does not render with the exported values: {str(exc).splitlines()[0]}"
        ) from None
    objects = []
    for text in manifests.values():
        objects += [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    return objects


def rendered_conf(objects: list[dict[str, Any]]) -> dict[str, Any]:
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and "nats.conf" in (obj.get("data") or {}):
            return natsconf.parse_conf(obj["data"]["nats.conf"])
    raise CourtyardError(
        "the rendered chart has no ConfigMap with nats.conf; is it the nats/nats chart?"
    )


def authorization_summary(conf: dict[str, Any]) -> str:
    """The rendered config's users, accounts and certificate mapping, in one line."""
    users = (conf.get("authorization") or {}).get("users") or []
    restricted = sum(1 for user in users if isinstance(user, dict) and "permissions" in user)
    mapped = (conf.get("tls") or {}).get("verify_and_map") is True
    return (
        f"{len(users)} certificate users ({restricted} restricted), system account "
        f"{conf.get('system_account', '-')}, verify_and_map {'on' if mapped else 'OFF'}"
    )


def coverage(
    project: Project, objects: list[dict[str, Any]], conf: dict[str, Any]
) -> list[tuple[str, str, bool]]:
    """Route hosts against the route certificate, client Services against the server one."""
    layout, names = project.layout, project.names
    rows = []
    for url in (conf.get("cluster") or {}).get("routes") or []:
        host = urlsplit(url).hostname or url
        rows.append(
            ("route", host, serves(layout.cert("route"), layout.key("route"), layout.ca_cert, host))
        )
    for obj in objects:
        if obj.get("kind") != "Service" or (obj.get("spec") or {}).get("clusterIP") == "None":
            continue
        name = obj["metadata"]["name"]
        for host in (name, names.fqdn(name)):
            rows.append(
                (
                    "server",
                    host,
                    serves(layout.cert("server"), layout.key("server"), layout.ca_cert, host),
                )
            )
    return rows


def verify(project: Project, chart_path: Path | None) -> VerifyReport:
    if project.spec.chart_layout != "current":
        raise CourtyardError(
            "--verify renders the current nats/nats chart; set helm.layout to "
            "current in the spec (the legacy 0.x chart is not checked)"
        )
    version = helm_values.chart_version()
    chart = load_chart(chart_path, version)
    objects = render(project, chart)
    chart_conf = rendered_conf(objects)
    local_conf = natsconf.parse_conf(project.layout.node_config(project.names.pod(0)).read_text())
    label = str(chart_path) if chart_path else f"nats/nats {version}"
    return VerifyReport(
        label,
        natsconf.compare(local_conf, chart_conf),
        coverage(project, objects, chart_conf),
        authorization_summary(chart_conf),
    )

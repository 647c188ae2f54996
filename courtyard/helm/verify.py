"""`invoke export-helm --verify`: render the real chart with the exported values and compare.

The chart of the spec's layout (2.x for current, 0.19.17 for legacy) is rendered offline
by the Helm SDK (`helm_chart`); `nats.conf` is taken from the rendered ConfigMap and
compared key by key, by meaning, with the node config `invoke configs` wrote. Route hosts
and client Services in the rendered manifests must be served by the certificate meant for
them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from courtyard.artefacts import natsconf
from courtyard.artefacts.tlscheck import serves
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm import values as helm_values
from courtyard.helm.export import secret_manifests
from courtyard.project import naming
from courtyard.project.loaded import Project


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


def chart_for(project: Project, chart_path: Path | None) -> helm_chart.Chart:
    """The chart version of the spec's layout; one sentence when `chart_path` is the other."""
    layout = project.spec.chart_layout
    version = (
        helm_values.chart_version() if layout == "current" else helm_values.LEGACY_CHART_VERSION
    )
    chart = helm_chart.find(chart_path, version)
    if chart.layout != layout:
        raise CourtyardError(
            f"the chart {chart.label} is version {chart.version}, which reads the "
            f"{chart.layout} values layout, but the spec's helm.layout is {layout}; pass a "
            f"{version} chart to --chart"
        )
    return chart


def render(project: Project, chart: helm_chart.Chart) -> list[dict[str, Any]]:
    """Every object the chart renders with the exported values."""
    return helm_chart.render(
        chart, helm_values.values(project), project.spec.release, project.spec.namespace
    )


def rendered_conf(objects: list[dict[str, Any]], project: Project | None = None) -> dict[str, Any]:
    """The rendered nats.conf. With `project`, the files it includes from the Secrets the
    export writes (the 0.x chart's `nats.config`) are read in, as nats-server reads them."""
    conf = natsconf.parse_conf(helm_chart.nats_conf_text(objects))
    if project is None or "include" not in conf:
        return conf
    return natsconf.with_includes(conf, included_files(objects, project))


def included_files(objects: list[dict[str, Any]], project: Project) -> dict[str, str]:
    """`./NAME/FILE` -> text, for each Secret the StatefulSet mounts at the config folder
    (/etc/nats-config/NAME) that the export writes."""
    written = {s["metadata"]["name"]: s["data"] for s in secret_manifests(project)}
    pod_spec = ((helm_chart.statefulset(objects).get("spec") or {}).get("template") or {}).get(
        "spec"
    ) or {}
    files = {}
    for volume in pod_spec.get("volumes") or []:
        data = written.get((volume.get("secret") or {}).get("secretName"))
        for key, value in (data or {}).items():
            files[f"./{volume['name']}/{key}"] = base64.b64decode(value).decode()
    return files


def authorization_summary(conf: dict[str, Any]) -> str:
    """The rendered config's users, accounts and certificate mapping, in one line."""
    by_account: dict[str, list[Any]] = {}
    global_users = (conf.get("authorization") or {}).get("users") or []
    if global_users:
        by_account[naming.GLOBAL_ACCOUNT] = global_users
    for name, account in (conf.get("accounts") or {}).items():
        account_users = (account or {}).get("users") or [] if isinstance(account, dict) else []
        if account_users:
            by_account[str(name)] = account_users
    users = [user for listed in by_account.values() for user in listed]
    restricted = sum(1 for user in users if isinstance(user, dict) and "permissions" in user)
    mapped = (conf.get("tls") or {}).get("verify_and_map") is True
    return (
        f"{len(users)} certificate users ({restricted} restricted) in "
        f"{', '.join(by_account) or 'no account'}, system account "
        f"{conf.get('system_account') or f'{naming.SYSTEM_ACCOUNT} (the default)'}, "
        f"verify_and_map {'on' if mapped else 'OFF'}"
    )


def route_hosts(conf: dict[str, Any]) -> list[str]:
    return sorted(
        urlsplit(str(url)).hostname or str(url)
        for url in (conf.get("cluster") or {}).get("routes") or []
    )


def coverage(
    project: Project, objects: list[dict[str, Any]], conf: dict[str, Any]
) -> list[tuple[str, str, bool]]:
    """Route hosts against the route certificate, client Services against the server one."""
    layout, names = project.layout, project.names
    rows = []
    for host in route_hosts(conf):
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
    """Render the chart of the spec's layout (2.x current, 0.19.17 legacy) and compare."""
    chart = chart_for(project, chart_path)
    objects = render(project, chart)
    chart_conf = rendered_conf(objects, project)
    local_conf = natsconf.parse_conf(project.layout.node_config(project.names.pod(0)).read_text())
    return VerifyReport(
        f"{chart.label} ({chart.version})",
        natsconf.compare(local_conf, chart_conf),
        coverage(project, objects, chart_conf),
        authorization_summary(chart_conf),
    )

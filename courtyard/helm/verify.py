"""`invoke export-helm --verify`: render the real chart with the exported values and compare.

The chart of the spec's layout (2.x for current, 0.19.17 for legacy) is rendered offline
by the Helm SDK (`helm_chart`); `nats.conf` is taken from the rendered ConfigMap and
compared key by key, by meaning, with the node config `invoke configs` wrote. Route hosts
and client Services in the rendered manifests must be served by the certificate meant for
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from courtyard.artefacts import natsconf
from courtyard.artefacts.tlscheck import serves
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm import values as helm_values
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


def rendered_conf(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return natsconf.parse_conf(helm_chart.nats_conf_text(objects))


def authorization_summary(conf: dict[str, Any]) -> str:
    """The rendered config's users, accounts and certificate mapping, in one line."""
    users = (conf.get("authorization") or {}).get("users") or []
    restricted = sum(1 for user in users if isinstance(user, dict) and "permissions" in user)
    mapped = (conf.get("tls") or {}).get("verify_and_map") is True
    return (
        f"{len(users)} certificate users ({restricted} restricted), system account "
        f"{conf.get('system_account') or f'{naming.SYSTEM_ACCOUNT} (the default)'}, "
        f"verify_and_map {'on' if mapped else 'OFF'}"
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
    chart_conf = rendered_conf(objects)
    local_conf = natsconf.parse_conf(project.layout.node_config(project.names.pod(0)).read_text())
    return VerifyReport(
        f"{chart.label} ({chart.version})",
        natsconf.compare(local_conf, chart_conf),
        coverage(project, objects, chart_conf),
        authorization_summary(chart_conf),
    )


# Upgrading a 0.x release in place ----------------------------------------------------------
# What Kubernetes refuses to change on an existing StatefulSet (besides the claim templates).
IMMUTABLE_FIELDS = ("selector", "serviceName", "podManagementPolicy")


@dataclass
class UpgradeReport:
    legacy_chart: str
    current_chart: str
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, 0.x, upgraded)
    coverage: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def differing(self) -> list[tuple[str, Any, Any]]:
        return [row for row in self.fields if row[1] != row[2]]

    @property
    def uncovered(self) -> list[tuple[str, str, bool]]:
        return [row for row in self.coverage if not row[2]]

    @property
    def ok(self) -> bool:
        return not self.differing and not self.uncovered


def route_hosts(conf: dict[str, Any]) -> list[str]:
    return sorted(
        urlsplit(str(url)).hostname or str(url)
        for url in (conf.get("cluster") or {}).get("routes") or []
    )


def upgrade_charts(
    legacy_path: Path | None, current_path: Path | None
) -> tuple[helm_chart.Chart, helm_chart.Chart]:
    legacy = helm_chart.find(legacy_path, helm_values.LEGACY_CHART_VERSION)
    current = helm_chart.find(current_path, helm_values.chart_version())
    for chart, wanted, option in (
        (legacy, "legacy", "--legacy-chart"),
        (current, "current", "--chart"),
    ):
        if chart.layout != wanted:
            raise CourtyardError(
                f"the chart {chart.label} is version {chart.version} ({chart.layout} layout); "
                f"{option} must name a {wanted}-layout chart"
            )
    return legacy, current


def render_upgrade(
    project: Project, legacy: helm_chart.Chart, current: helm_chart.Chart
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The 0.x release (legacy export, 0.19.17) and its upgrade (upgrade export, 2.x)."""
    release, ns = project.spec.release, project.spec.namespace
    old = helm_chart.render(legacy, helm_values.legacy_values(project), release, ns)
    new = helm_chart.render(current, helm_values.upgrade_values(project), release, ns)
    return old, new


def upgrade_parity(
    project: Project, legacy: helm_chart.Chart, current: helm_chart.Chart
) -> UpgradeReport:
    """Render the 0.x release and its upgrade; compare what the StatefulSet cannot change,
    the route hosts and the cluster name, and check the certificates cover both renders."""
    layout = project.layout
    old, new = render_upgrade(project, legacy, current)
    old_sts = helm_chart.statefulset(old).get("spec") or {}
    new_sts = helm_chart.statefulset(new).get("spec") or {}
    old_conf, new_conf = rendered_conf(old), rendered_conf(new)
    report = UpgradeReport(
        f"{legacy.label} ({legacy.version})", f"{current.label} ({current.version})"
    )
    for name in IMMUTABLE_FIELDS:
        report.fields.append((f"StatefulSet spec.{name}", old_sts.get(name), new_sts.get(name)))

    def claims(sts: dict[str, Any]) -> list[Any]:
        return sts.get("volumeClaimTemplates") or []

    report.fields.append(
        (
            "StatefulSet spec.volumeClaimTemplates names",
            [c["metadata"]["name"] for c in claims(old_sts)],
            [c["metadata"]["name"] for c in claims(new_sts)],
        )
    )
    report.fields.append(
        ("StatefulSet spec.volumeClaimTemplates", claims(old_sts), claims(new_sts))
    )
    report.fields.append(("route hosts", route_hosts(old_conf), route_hosts(new_conf)))
    report.fields.append(
        (
            "cluster name",
            (old_conf.get("cluster") or {}).get("name"),
            (new_conf.get("cluster") or {}).get("name"),
        )
    )
    route = (layout.cert("route"), layout.key("route"), layout.ca_cert)
    server = (layout.cert("server"), layout.key("server"), layout.ca_cert)
    for host in sorted(set(route_hosts(old_conf)) | set(route_hosts(new_conf))):
        report.coverage.append(("route", host, serves(*route, host)))
    services = {obj["metadata"]["name"] for obj in helm_chart.kind(old + new, "Service")}
    for name in sorted(services):
        for host in (name, project.names.fqdn(name)):
            report.coverage.append(("server", host, serves(*server, host)))
    return report


def naming_coverage(project: Project) -> list[tuple[str, str, bool]]:
    """Without the charts: the route hosts both layouts dial, against the route certificate."""
    names, layout = project.names, project.layout
    route = (layout.cert("route"), layout.key("route"), layout.ca_cert)
    hosts = {names.legacy_route_host(i) for i in range(names.replicas)}
    return [("route", host, serves(*route, host)) for host in sorted(hosts)]

"""`invoke export-helm --upgrade-from legacy`: upgrade an existing 0.x release in place.

The values are the current chart's layout with the settings its UPGRADING.md prescribes for a
0.x release (`upgrade_values`); `export_upgrade` writes them like any export, with `helm
upgrade` (no `--install`) as the deploy step. `upgrade_parity` renders the 0.x release and
its upgrade with the real charts and compares what a StatefulSet cannot change; the
rehearsal on the real engine is the harness's (`harness/upgrade_rehearsal.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courtyard.artefacts.tlscheck import serves
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm import values as helm_values
from courtyard.helm.export import ExportPlan, ExportResult, write_export
from courtyard.helm.values import current_values
from courtyard.helm.verify import rendered_conf, route_hosts
from courtyard.project.loaded import Project

UPGRADE_README = [
    "## Upgrading the 0.x release in place",
    "",
    "`values.yaml` is in the current chart's layout, with the settings the chart's",
    "UPGRADING.md prescribes for an existing 0.x release: the StatefulSet keeps its selector,",
    "its headless Service name and its JetStream claim (`<fullname>-js-pvc`), so `helm",
    "upgrade` replaces the pods one at a time, highest ordinal first, each on its own volume.",
    "Routes keep the 0.x host names and the cluster keeps its name, so new pods route to the",
    "old ones while the roll runs. The new ClusterIP Service is `<fullname>-svc`; the server",
    "certificate covers it. Apply the Secrets first (the CA Secret is new), then upgrade,",
    "then wait for the roll:",
    "",
]


def upgrade_values(project: Project) -> dict[str, Any]:
    """Current-layout values that upgrade the spec's existing 0.x release in place.

    A StatefulSet's selector, serviceName and volumeClaimTemplates cannot change, so the
    settings the chart's UPGRADING.md prescribes keep the 0.x ones: the selector without the
    new component label, the headless Service named as the fullname, the JetStream claim
    `<fullname>-js-pvc`, the service account, and a ClusterIP Service renamed out of the
    headless one's way. Routes keep the 0.x hosts (FQDN, the headless fullname) and the
    cluster keeps its name, so old and new pods route to each other during the roll.
    """
    spec, names = project.spec, project.names
    if spec.chart_layout != "legacy":
        raise CourtyardError(
            f"{spec.path} describes a release of the current chart (helm.layout: current); "
            "--upgrade-from legacy needs the spec of the 0.x release (helm.layout: legacy, "
            "e.g. from invoke import-helm)"
        )
    result = current_values(project)
    config = result["config"]
    config["cluster"]["routeURLs"] = {"useFQDN": True, "k8sClusterDomain": spec.cluster_domain}
    config["cluster"]["merge"] = {"name": names.cluster_name}
    config["jetstream"]["fileStore"]["pvc"]["name"] = names.pvc_name
    result["headlessService"] = {"name": names.headless}
    result["service"] = {"name": names.upgraded_client_service}
    result["serviceAccount"] = {"enabled": True}
    result["statefulSet"] = {
        "patch": [
            {"op": "remove", "path": "/spec/selector/matchLabels/app.kubernetes.io~1component"}
        ]
    }
    result["natsBox"] = {
        "deployment": {
            "patch": [
                {
                    "op": "replace",
                    "path": "/spec/selector/matchLabels",
                    "value": {"app": "nats-box"},
                },
                {"op": "add", "path": "/spec/template/metadata/labels/app", "value": "nats-box"},
            ]
        }
    }
    return result


def export_upgrade(
    project: Project, out: Path | None = None, *, secrets: bool = True
) -> ExportResult:
    """Write the upgrade's values (and secrets) into `out` (default dist/helm-upgrade/)."""
    return write_export(
        project,
        ExportPlan(
            values=upgrade_values(project),
            out=out or project.layout.helm_upgrade_out,
            layout_line=(
                "current, upgrading the 0.x release in place. Regenerate with "
                "`invoke export-helm --upgrade-from legacy`."
            ),
            layout_name="current layout, upgrading a 0.x release",
            readme_extra=tuple(UPGRADE_README),
            upgrade=True,
        ),
        secrets=secrets,
    )


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
    new = helm_chart.render(current, upgrade_values(project), release, ns)
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
    old_conf, new_conf = rendered_conf(old, project), rendered_conf(new, project)
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

"""`invoke export-helm` and `invoke export-compose`: the same cluster for Kubernetes and Compose."""

from __future__ import annotations

from pathlib import Path

from courtyard.artefacts.compose import write_compose
from courtyard.artefacts.node_containers import node_definitions
from courtyard.commands.output import step, table, warn
from courtyard.commands.steps import load_locked
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import CROSS, TICK
from courtyard.harness import chart_run
from courtyard.helm import export as helm_export
from courtyard.helm import upgrade as helm_upgrade
from courtyard.helm import verify as helm_verify
from courtyard.lifecycle.prepare import choose_image, connect_engine, prepare, rel


def export_helm(
    spec: str | None,
    *,
    out: str | None,
    secrets: bool,
    verify: bool,
    chart: str | None,
    upgrade_from: str | None = None,
    legacy_chart: str | None = None,
) -> None:
    check_upgrade_source(upgrade_from)
    with load_locked(spec, "export-helm") as project:
        prepare(project)
        # An in-place upgrade of a 0.x release is its own export, into its own folder.
        exporter = helm_upgrade.export_upgrade if upgrade_from else helm_export.export_helm
        title = "Helm values for upgrading the 0.x release" if upgrade_from else "Helm values"
        with step(f"{title} and secrets") as info:
            result = exporter(project, Path(out) if out else None, secrets=secrets)
            info["detail"] = ", ".join(rel(project, p) for p in result.written)
        if result.secrets:
            warn(
                f"{rel(project, result.secrets)} holds private keys (mode 0600); keep it out of "
                "git and share it only with the cluster"
            )
        else:
            print("Create the secrets with:")
            print("\n".join(f"  {command}" for command in result.kubectl))
        if upgrade_from:
            _check_upgrade(project, verify, chart, legacy_chart)
        elif verify:
            with step("Rendered the chart with the Helm SDK and compared nats.conf") as info:
                report = helm_verify.verify(project, Path(chart) if chart else None)
                info["detail"] = report.chart
            _print_verify(report)
            if not report.ok:
                raise CourtyardError(
                    "the chart renders a cluster different from the local one; see the table above"
                )
            _run_rendered(project, Path(chart) if chart else None)
        print("Deploy with:")
        print("\n".join(f"  {command}" for command in result.deploy))


def check_upgrade_source(upgrade_from: str | None) -> None:
    """`--upgrade-from` names a release Courtyard knows how to upgrade, or is not given."""
    if upgrade_from not in (None, "legacy"):
        raise CourtyardError(
            f"--upgrade-from {upgrade_from!r} is not known; the only release Courtyard "
            "upgrades from is legacy (the 0.x chart)"
        )


def _check_upgrade(project, verify: bool, chart: str | None, legacy_chart: str | None) -> None:
    """The route certificate must serve both charts' route hosts, or old and new pods cannot
    route to each other mid-roll; with --verify, both charts are rendered and compared."""
    if not verify:
        rows = helm_upgrade.naming_coverage(project)
        bad = [host for _, host, served in rows if not served]
        mark = CROSS if bad else TICK
        print(
            f" {mark} the route certificate serves {len(rows) - len(bad)}/{len(rows)} route "
            "hosts of the 0.x release, which the upgrade keeps"
            + (f"; not: {', '.join(bad)}" if bad else "")
        )
        print("   (--verify renders both charts and compares what the StatefulSet cannot change)")
        if bad:
            raise CourtyardError(
                "the route certificate does not cover the release's route hosts; run "
                "`invoke certs` to reissue it, then export again"
            )
        return
    with step("Rendered the 0.x release and its upgrade with the Helm SDK") as info:
        legacy, current = helm_upgrade.upgrade_charts(
            Path(legacy_chart) if legacy_chart else None, Path(chart) if chart else None
        )
        report = helm_upgrade.upgrade_parity(project, legacy, current)
        info["detail"] = f"{report.legacy_chart} -> {report.current_chart}"
    print(
        table(
            ["field", "0.x release", "upgrade", ""],
            [
                (name, _short(old), _short(new), TICK if old == new else CROSS)
                for name, old, new in report.fields
            ],
        )
    )
    served = len(report.coverage) - len(report.uncovered)
    print(
        f" {TICK if not report.uncovered else CROSS} certificates serve {served}/"
        f"{len(report.coverage)} route hosts and Service names of both charts"
    )
    for cert_name, host, _ in report.uncovered:
        print(f"   {host} is not covered by the {cert_name} certificate")
    if report.differing:
        raise CourtyardError(
            f"the upgrade would change {report.differing[0][0]}, which Kubernetes refuses "
            "(or which splits the cluster mid-roll); see the table above"
        )
    if report.uncovered:
        raise CourtyardError(
            "the certificates do not cover both charts' names, so old and new pods could not "
            "reach each other mid-roll; run `invoke certs` to reissue them, then export again"
        )
    print(f" {TICK} helm upgrade keeps the pods' identities, their volumes and their routes")


def _run_rendered(project, chart_path: Path | None) -> None:
    """The rendered config, run: the chart's pods on the engine, asked through the system
    identity as the smoke asks the local cluster."""
    if not project.spec.tls.system_identities:
        warn(
            "the spec has no system identity, so the rendered pods were not run and asked; "
            "add one with `system: true` to prove $SYS requests work in Kubernetes too"
        )
        return
    client = connect_engine()
    image = choose_image(client, project)
    chart = helm_verify.chart_for(project, chart_path)
    with step("Ran the chart's rendered pods and asked them through the system identity") as info:
        run = chart_run.run_chart(client, project, chart, image.tag)
        info["detail"] = f"{run.release}: {run.ready}"
    expected = run.expected
    for subject, servers in run.answered.items():
        mark = TICK if len(servers) == expected else CROSS
        print(f" {mark} {len(servers)}/{expected} rendered pods answered {subject}")
    for name, got in run.outsiders.items():
        print(f" {CROSS if got == 'ANSWERED' else TICK} {name} (not a system identity): {got}")
    if run.traffic:
        print(f" {TICK if run.traffic_ok else CROSS} traffic between identities: {run.traffic}")
    for name, got in run.escapes.items():
        mark = CROSS if got.startswith(chart_run.ESCAPED) else TICK
        print(f" {mark} {name}'s streams reach nothing outside its account: {got}")
    if not run.ok:
        raise CourtyardError(
            "the chart's rendered config does not serve the system identity, carry the "
            "identities' traffic, or keep each team's streams in its account, as the local "
            "cluster does; see the lines above"
        )


def _print_verify(report) -> None:
    if report.differences:
        print(
            table(
                ["key", "local", "chart", "verdict"],
                [
                    (k, _short(a), _short(b), f"expected: {why}" if why else "DIFFERENT")
                    for k, a, b, why in report.differences
                ],
            )
        )
    served = sum(1 for row in report.coverage if row[2])
    print(
        f" {TICK if not report.uncovered else CROSS} certificates serve {served}/"
        f"{len(report.coverage)} rendered route hosts and client service names"
    )
    for cert_name, host, _ in report.uncovered:
        print(f"   {host} is not covered by the {cert_name} certificate")
    verdict = "DIFFERS from" if report.authorization_differs else "the same as"
    print(
        f" {CROSS if report.authorization_differs else TICK} authorization: "
        f"{report.authorization}; {verdict} the local cluster"
    )
    if report.ok:
        print(
            f" {TICK} parity: the chart renders the same nats.conf, apart from the expected "
            "differences listed"
        )


def _short(value) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def export_compose(spec: str | None) -> None:
    with load_locked(spec, "export-compose") as project:
        client = connect_engine()
        prepare(project)
        image = choose_image(client, project)
        with step("Compose file") as info:
            path = write_compose(project, node_definitions(project, image.tag))
            info["detail"] = rel(project, path)
        print(
            f"Run it with `docker compose -f {rel(project, path)} up -d` (or docker-compose), "
            f"after `invoke down` if `invoke up` runs this cluster; `invoke status` and "
            "`invoke smoke` work on either."
        )

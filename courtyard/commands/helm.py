"""`invoke helm-doctor` and `invoke import-helm`: from a values file that already exists."""

from __future__ import annotations

import json
from pathlib import Path

from courtyard.commands.output import step, table, warn
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import CROSS, TICK
from courtyard.helm import chart as helm_chart
from courtyard.helm import doctor, values_file
from courtyard.helm import importer as helm_import
from courtyard.helm import values as helm_values
from courtyard.helm.doctor import Diagnosis
from courtyard.project.load import spec_path


def _chart(chart: str | None) -> helm_chart.Chart:
    return helm_chart.find(Path(chart) if chart else None, helm_values.chart_version())


def helm_doctor(
    file: str, *, chart: str | None, release: str | None, namespace: str, as_json: bool
) -> None:
    path = Path(file)
    if as_json:
        found = values_file.read(path)
        diagnosis = doctor.diagnose(
            found, _chart(chart), release or helm_import.guess_release(found), namespace
        )
        print(json.dumps(diagnosis.to_dict(), indent=2))
    else:
        with step("Read the values file") as info:
            found = values_file.read(path)
            beside = [f"Service {helm_import.object_name(s)}" for s in found.services]
            beside += [f"Secret {s.name}" for s in found.secrets]
            info["detail"] = f"{path.name}, values in document {found.document}" + (
                f"; beside them: {', '.join(beside)}" if beside else ""
            )
        with step("Loaded the chart") as info:
            loaded = _chart(chart)
            info["detail"] = f"{loaded.label} ({loaded.version}, {loaded.layout} layout)"
        release = release or helm_import.guess_release(found)
        with step(f"Rendered it as release {release} and read back what it deploys") as info:
            diagnosis = doctor.diagnose(found, loaded, release, namespace)
            info["detail"] = f"{len(diagnosis.unread)} keys change nothing in the render"
        print_diagnosis(diagnosis)
    if diagnosis.problems:
        raise CourtyardError(
            f"{path} does not deploy what it asks for on the chart {diagnosis.chart_version} "
            f"({len(diagnosis.problems)} problem{'s' if len(diagnosis.problems) > 1 else ''}); "
            "move the unread keys to the nearest keys shown, or pass --chart for the chart "
            "version the file was written for"
        )


def _or_dash(items: list[str]) -> str:
    return ", ".join(items) if items else "-"


def deployment_rows(dep) -> list[tuple[str, object]]:
    """The rendered deployment as (what, rendered) rows, for people."""
    js = dep.jetstream
    cluster = "none"
    if dep.cluster:
        cluster = (
            f"named {dep.cluster_name}" if dep.cluster_name else "unnamed (the servers pick one)"
        )
    jetstream = "off"
    if js:
        jetstream = (
            f"memory {js['memory_store'] or 'unlimited'}, "
            f"file {js['file_store'] or 'unlimited'} in {js['store_dir'] or '(temp dir)'}"
        )

    def provided(s) -> str:
        if not s.in_file:
            return "not in the file: create it first"
        return "in the file" + (", placeholders only" if s.placeholders else "")

    return [
        ("replicas", dep.replicas),
        ("cluster", cluster),
        *[("routes" if i == 0 else "", route) for i, route in enumerate(dep.routes or ["-"])],
        ("route TLS", dep.route_tls),
        ("client TLS", dep.client_tls),
        ("JetStream", jetstream),
        ("PVCs", _or_dash([f"{p['name']} ({p['size']})" for p in dep.pvcs])),
        (
            "Secrets",
            _or_dash(
                [f"{s.name} at {', '.join(s.mounted_at)} ({provided(s)})" for s in dep.secrets]
            ),
        ),
        ("image", dep.image),
    ]


def print_diagnosis(d: Diagnosis) -> None:
    rows = deployment_rows(d.deployment)
    print(f"What nats/nats {d.chart_version} deploys with this file:")
    print(table(["", "rendered"], rows))
    if d.unread:
        print(f"Keys that change nothing in the render ({len(d.unread)}):")
        print(
            table(
                ["key", "why", "nearest key the chart reads"],
                [(u.path, u.why, u.nearest or "-") for u in d.unread],
            )
        )
    else:
        print(f" {TICK} the chart reads every key of the file")
    for note in d.notes:
        warn(note)
    for problem in d.problems:
        print(f" {CROSS} {problem}")
    if not d.problems:
        print(
            "Next: `invoke import-helm FILE` writes a Courtyard spec of this deployment, and "
            "`invoke up --spec` runs it locally."
        )


def import_helm(
    file: str, *, out: str | None, release: str | None, namespace: str | None, layout: str | None
) -> None:
    path = Path(file)
    with step("Read the values file") as info:
        found = values_file.read(path)
        info["detail"] = f"{path.name}, values in document {found.document}"
    with step("Mapped it to a Courtyard spec") as info:
        result = helm_import.import_values(
            found, release=release, namespace=namespace, layout=layout
        )
        info["detail"] = (
            f"{len(result.mapped)} settings mapped, {len(result.own_way)} done Courtyard's "
            f"own way, {len(result.unmapped)} not mapped"
        )
    # Beside the default spec (config/ of this project), never over it.
    target = Path(out) if out else spec_path(None).parent / f"{result.release}.yaml"
    with step("Wrote the spec") as info:
        helm_import.write_spec(result, target)
        info["detail"] = str(target)
    print(table(["spec key", "value", "from"], result.mapped))
    if result.own_way:
        print(f"Done Courtyard's own way ({len(result.own_way)}):")
        print(table(["key", "how"], result.own_way))
    if result.unmapped:
        print(f"Not mapped ({len(result.unmapped)}):")
        print(table(["key", "why"], result.unmapped))
    else:
        print(f" {TICK} every other key of the file is covered")
    for note in result.notes:
        warn(note)
    print(f"Next: `invoke up --spec {target}` runs this deployment locally.")

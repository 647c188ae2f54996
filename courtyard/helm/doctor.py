"""`invoke helm-doctor`: what a values file really deploys with the real chart, and which of
its keys the chart never reads.

Neither nats/nats chart has a values schema and Helm's lint says nothing, so a file written
for one layout deploys on the other as a single plain node, silently. The doctor renders the
chart with the file's values and reads the result back: the StatefulSet, its volumes and
claims, and `nats.conf`. A key counts as unread when removing it leaves every rendered
manifest byte for byte the same; the nearest key the chart's own defaults have is offered.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from courtyard.artefacts import natsconf
from courtyard.core import yamlsafe
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm.values_file import ValuesFile, leaves, lookup
from courtyard.project import naming

# Past this many leaves the removal test (one render each) is skipped; keys the chart's
# defaults lack are still listed.
MAX_REMOVAL_RENDERS = 400
# Both charts render one route per node, looping over the replica count; a count past this
# is refused before anything renders (a NATS cluster has 3, 5 or 7 nodes; a count like 1e30
# rendered until the kernel killed the process).
MAX_RENDERED_REPLICAS = 100


@dataclass
class UnreadKey:
    path: str
    why: str  # "unknown to the chart", "same as the chart's default", "no effect here"
    nearest: str | None = None


@dataclass
class MountedSecret:
    name: str
    mounted_at: list[str]
    in_file: bool
    placeholders: list[str] = field(default_factory=list)


@dataclass
class Deployment:
    """What the chart renders, read back from the manifests."""

    replicas: int
    image: str
    cluster: bool
    cluster_name: str | None
    routes: list[str]
    route_tls: str
    client_tls: str
    jetstream: dict[str, Any] | None
    pvcs: list[dict[str, str]]
    secrets: list[MountedSecret]


@dataclass
class Diagnosis:
    file: str
    chart: str
    chart_version: str
    layout: str
    deployment: Deployment
    unread: list[UnreadKey]
    problems: list[str]  # the file evidently asks for something the render lacks: exit 1
    notes: list[str]  # worth knowing, not wrong by themselves

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Reading what the values ask for -----------------------------------------------------------
def _default_paths(tree: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths: set[tuple[str, ...]] = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = (*prefix, str(key))
            paths.add(path)
            paths |= _default_paths(value, path)
    return paths


def _open_below(defaults: dict[str, Any], path: tuple[str, ...]) -> bool:
    """True when a prefix of `path` is a free-form default ({} or a list): anything below
    it is the user's to write (`merge`, `patch`, `podTemplate`, annotations...)."""
    for end in range(1, len(path)):
        known, value = lookup(defaults, path[:end])
        if known and (value == {} or isinstance(value, list) or value is None):
            return True
    return False


def nearest(path: tuple[str, ...], candidates: set[tuple[str, ...]]) -> str | None:
    """The chart key most like `path`: the longest shared tail (at least two parts, or the
    whole of a one-part path), else the closest spelling."""
    best: tuple[int, int, tuple[str, ...]] | None = None
    for candidate in candidates:
        if candidate == path:
            continue
        shared = 0
        while (
            shared < min(len(path), len(candidate))
            and path[-1 - shared].lower() == candidate[-1 - shared].lower()
        ):
            shared += 1
        if shared >= min(2, len(path)) and shared > 0:
            score = (shared, -len(candidate), candidate)
            if best is None or score[:2] > best[:2]:
                best = score
    if best:
        return ".".join(best[2])
    dotted = {".".join(c): c for c in candidates if c != path}
    close = difflib.get_close_matches(".".join(path), list(dotted), n=1, cutoff=0.7)
    return close[0] if close else None


def _without(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    trimmed = copy.deepcopy(values)
    node = trimmed
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return trimmed


def _rendered_text(chart: helm_chart.Chart, values: dict[str, Any], release: str, ns: str) -> str:
    try:
        files = helm_chart.render_files(chart, values, release, ns)
    except CourtyardError as exc:
        return f"\0{exc}"  # a key whose removal breaks the render is read
    return "\n".join(f"{name}\n{text}" for name, text in sorted(files.items()))


def unread_keys(
    chart: helm_chart.Chart, values: dict[str, Any], release: str, namespace: str
) -> tuple[list[UnreadKey], list[str]]:
    defaults = chart.defaults
    known = _default_paths(defaults)
    notes = []
    found = leaves(values)
    removal = len(found) <= MAX_REMOVAL_RENDERS
    if not removal:
        notes.append(
            f"the file has {len(found)} keys, more than {MAX_REMOVAL_RENDERS}: only keys the "
            "chart's defaults lack are listed as unread"
        )
    baseline = _rendered_text(chart, values, release, namespace) if removal else ""
    unread = []
    for path, value in found:
        in_defaults = path in known or _open_below(defaults, path)
        if in_defaults and not removal:
            continue
        if removal and _rendered_text(chart, _without(values, path), release, namespace) != (
            baseline
        ):
            continue
        if not in_defaults:
            unread.append(UnreadKey(".".join(path), "unknown to the chart", nearest(path, known)))
        elif lookup(defaults, path) == (True, value):
            unread.append(UnreadKey(".".join(path), "same as the chart's default"))
        else:
            unread.append(UnreadKey(".".join(path), "no effect here"))
    return unread, notes


# Reading what the chart renders ---------------------------------------------------------
def deployment(objects: list[dict], values_file: ValuesFile) -> Deployment:
    """What the rendered objects deploy: the StatefulSet's pods and the config they run."""
    sts_spec = helm_chart.statefulset(objects).get("spec") or {}
    pod_spec = (sts_spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    nats = next(
        (c for c in containers if c.get("name") == "nats"), containers[0] if containers else {}
    )
    conf = natsconf.parse_conf(helm_chart.nats_conf_text(objects))
    cluster = conf.get("cluster") if isinstance(conf.get("cluster"), dict) else None
    return Deployment(
        replicas=_replicas(sts_spec.get("replicas", 1), values_file),
        image=str(nats.get("image", "?")),
        cluster=cluster is not None,
        cluster_name=cluster.get("name") if cluster else None,
        routes=[str(r) for r in (cluster.get("routes") or [])] if cluster else [],
        route_tls=_route_tls(cluster),
        client_tls=_client_tls(conf),
        jetstream=_jetstream(conf),
        pvcs=_claims(sts_spec),
        secrets=_mounted_secrets(pod_spec, values_file),
    )


def _replicas(rendered: object, values_file: ValuesFile) -> int:
    """The StatefulSet's replicas; a value Kubernetes would refuse is one sentence."""
    if isinstance(rendered, int) and not isinstance(rendered, bool) and rendered >= 0:
        return rendered
    raise CourtyardError(
        f"{values_file.path.name} makes the chart render the StatefulSet's replicas as "
        f"{yamlsafe.shown(rendered)}, which Kubernetes refuses; set config.cluster.replicas "
        "(or the chart's replica key) to a whole number such as 3"
    )


def _route_tls(cluster: dict[str, Any] | None) -> str:
    if not cluster or not isinstance(cluster.get("tls"), dict):
        return "off"
    if cluster["tls"].get("ca_file"):
        return "on, mutual (each route verifies its peer's certificate against the CA)"
    return "on, but without a CA: peers cannot verify each other"


def _client_tls(conf: dict[str, Any]) -> str:
    tls = conf.get("tls")
    if not isinstance(tls, dict):
        return "off"
    if tls.get("verify_and_map"):
        return "on, clients need a certificate (verify_and_map: it is their login)"
    if tls.get("verify"):
        return "on, clients need a certificate (verify)"
    return "on, server certificate only (clients are not verified)"


def _jetstream(conf: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(conf.get("jetstream"), dict):
        return None
    flat = natsconf.canonical(natsconf.flatten(conf))
    return {
        "memory_store": flat.get("jetstream.max_memory_store"),
        "file_store": flat.get("jetstream.max_file_store"),
        "store_dir": flat.get("jetstream.store_dir"),
    }


def _claims(sts_spec: dict[str, Any]) -> list[dict[str, str]]:
    """The StatefulSet's volume claim templates: name and requested size."""
    claims = []
    for claim in sts_spec.get("volumeClaimTemplates") or []:
        requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
        name = (claim.get("metadata") or {}).get("name", "?")
        claims.append({"name": name, "size": str(requests.get("storage", "?"))})
    return claims


def _mounted_secrets(pod_spec: dict[str, Any], values_file: ValuesFile) -> list[MountedSecret]:
    """Each Secret the pods mount, where, and whether the values file provides it."""
    containers = pod_spec.get("containers") or []
    provided = {secret.name: secret for secret in values_file.secrets}
    secrets = []
    for volume in pod_spec.get("volumes") or []:
        name = (volume.get("secret") or {}).get("secretName")
        if not name:
            continue
        mounted = sorted(
            {
                m.get("mountPath", "?")
                for c in containers
                for m in c.get("volumeMounts") or []
                if m.get("name") == volume.get("name")
            }
        )
        given = provided.get(name)
        secrets.append(
            MountedSecret(name, mounted, given is not None, given.placeholders if given else [])
        )
    return secrets


# What the file evidently asks for ------------------------------------------------------------
def _asks(values: dict[str, Any]) -> dict[str, str]:
    """Evidence in the values, by theme: the first key that asks for it."""
    asks: dict[str, str] = {}
    for path, value in leaves(values):
        parts = [p.lower() for p in path]
        dotted = ".".join(path)
        if "cluster" in parts and parts[-1] == "enabled" and value is True:
            asks.setdefault("cluster", f"{dotted}: true")
        if parts[-1] == "replicas" and isinstance(value, int) and value > 1:
            asks.setdefault("cluster", f"{dotted}: {value}")
        if "tls" in parts and (parts[-2:] == ["secret", "name"] or parts[-1] == "secretname"):
            asks.setdefault("tls", f"{dotted}: {value}")
        if "jetstream" in parts and value not in (False, None):
            asks.setdefault("jetstream", dotted)
    return asks


def problems(values: dict[str, Any], deployed: Deployment) -> list[str]:
    asks, found = _asks(values), []
    if "cluster" in asks and (deployed.replicas < 2 or not deployed.cluster):
        found.append(
            f"the file asks for a cluster ({asks['cluster']}) but the chart renders "
            f"{deployed.replicas} replica{'s' if deployed.replicas != 1 else ''}"
            f"{'' if deployed.cluster else ' and no cluster block'}"
        )
    if "tls" in asks and deployed.route_tls == "off" and deployed.client_tls == "off":
        found.append(
            f"the file names a TLS secret ({asks['tls']}) but the chart renders no TLS block"
        )
    if "jetstream" in asks and deployed.jetstream is None:
        found.append(
            f"the file sets JetStream keys ({asks['jetstream']}) but the chart renders no JetStream"
        )
    return found


def _file_notes(values_file: ValuesFile, deployed: Deployment) -> list[str]:
    notes = []
    if values_file.helm_reads_other_document:
        notes.append(
            f"helm -f reads only the first YAML document of a file (Helm 3; Helm 4 merges "
            f"them all): that is document {values_file.first_document}, not the values "
            f"(document {values_file.document}); give helm a file holding only the values"
        )
    mounted = {s.name for s in deployed.secrets}
    for secret in values_file.secrets:
        if secret.name not in mounted:
            notes.append(
                f"the file's Secret {secret.name} is mounted by no pod of this render "
                "(and helm does not create objects from a values file)"
            )
        if secret.placeholders:
            notes.append(
                f"the file's Secret {secret.name} holds placeholders, not data: "
                f"{', '.join(secret.placeholders)}"
            )
    for service in values_file.services:
        name = (service.get("metadata") or {}).get("name", "?")
        notes.append(
            f"the file's Service {name} is not created by helm from a values file; the chart "
            "renders its own headless Service"
        )
    return notes


def _as_chart_int(value: object) -> float | None:
    """What the charts' `int` makes of `value`, near enough to bound it: numbers as they
    are, strings Go's ParseInt reads (`"1_000"`, `"0x10"`, `"5.0"`); None for the rest, which
    the chart reads as 0."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = re.sub(r"\.0*$", "", value.strip())
        try:
            return int(text, 0)
        except ValueError:
            return None
    return None


def check_renderable(values_file: ValuesFile, release: str, namespace: str) -> None:
    """Refuse, before rendering, a release or namespace Kubernetes would refuse and a replica
    count the chart would loop over without end."""
    for option, value in (("release (--release)", release), ("namespace (--namespace)", namespace)):
        if not naming.is_dns_label(value):
            raise CourtyardError(
                f"the {option} {yamlsafe.shown(value)} is not {naming.DNS1123_RULE}; pass it "
                "as `helm install` was given it"
            )
    for path, value in leaves(values_file.values):
        count = _as_chart_int(value) if path[-1] == "replicas" else None
        if count is not None and not (math.isfinite(count) and 0 <= count <= MAX_RENDERED_REPLICAS):
            raise CourtyardError(
                f"{values_file.path.name} sets {'.'.join(path)} to {yamlsafe.shown(value)}, "
                f"and the chart renders a route for every node: the doctor renders at most "
                f"{MAX_RENDERED_REPLICAS}, so set the node count (such as 3)"
            )


def diagnose(
    values_file: ValuesFile, chart: helm_chart.Chart, release: str, namespace: str
) -> Diagnosis:
    check_renderable(values_file, release, namespace)
    values = values_file.values
    objects = helm_chart.render(chart, values, release, namespace)
    deployed = deployment(objects, values_file)
    unread, notes = unread_keys(chart, values, release, namespace)
    return Diagnosis(
        file=str(values_file.path),
        chart=chart.label,
        chart_version=chart.version,
        layout=chart.layout,
        deployment=deployed,
        unread=unread,
        problems=problems(values, deployed),
        notes=_file_notes(values_file, deployed) + notes,
    )

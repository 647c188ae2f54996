"""`invoke import-helm`: a Courtyard spec from an existing values file, by what it asks for.

The file is read for its intent, in either chart layout, also where a key sits in the wrong
place (the original Skunkwolf file has `jetstream.*` at the top, where neither chart reads
it): the spec gets the value and the row says where it was found. What Courtyard always does
(TLS with its own CA, JetStream in /data, clustering) is acknowledged; anything else is
listed as not mapped. A real certificate in a Secret beside the values lends its SANs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from courtyard.core import yamlsafe
from courtyard.core.errors import CourtyardError, SpecError
from courtyard.helm.values_file import ValuesFile, leaves, lookup
from courtyard.project import naming
from courtyard.project.load import DEFAULT_SPEC, load_spec_text

DEFAULT_RELEASE = naming.CHART_NAME  # what `helm install` examples call it

# spec key -> where each layout keeps it, then places it is found by mistake.
SETTINGS: list[tuple[str, dict[str, list[str]], list[str]]] = [
    ("replicas", {"legacy": ["cluster.replicas"], "current": ["config.cluster.replicas"]}, []),
    (
        "jetstream.memory_store",
        {
            "legacy": ["nats.jetstream.memStorage.size"],
            "current": ["config.jetstream.memoryStore.maxSize"],
        },
        ["jetstream.memStorage.size", "jetstream.memoryStore.maxSize"],
    ),
    (
        "jetstream.file_store",
        {
            "legacy": ["nats.jetstream.fileStorage.size"],
            "current": [
                "config.jetstream.fileStore.pvc.size",
                "config.jetstream.fileStore.maxSize",
            ],
        },
        ["jetstream.fileStorage.size", "jetstream.fileStore.pvc.size"],
    ),
    ("ports.client", {"legacy": ["nats.client.port"], "current": ["config.nats.port"]}, []),
    ("ports.cluster", {"legacy": [], "current": ["config.cluster.port"]}, []),
    ("ports.monitor", {"legacy": [], "current": ["config.monitor.port"]}, []),
    (
        "routes.use_fqdn",
        {"legacy": [], "current": ["config.cluster.routeURLs.useFQDN"]},
        [],
    ),
    (
        "cluster_domain",
        {"legacy": ["k8sClusterDomain"], "current": ["config.cluster.routeURLs.k8sClusterDomain"]},
        [],
    ),
    ("fullname_override", {"legacy": ["fullnameOverride"], "current": ["fullnameOverride"]}, []),
    (
        "cluster_name",
        {"legacy": ["cluster.name"], "current": ["config.cluster.merge.name"]},
        [],
    ),
]

# Keys whose meaning Courtyard always has: acknowledged, not "not mapped".
ALWAYS = "always so in Courtyard"
CERTS = "Courtyard issues its own CA and certificates; export-helm writes their Secrets"


@dataclass
class ImportResult:
    release: str
    namespace: str
    layout: str
    raw: dict[str, Any]  # the spec to write, as a YAML mapping
    mapped: list[tuple[str, str, str]] = field(default_factory=list)  # spec key, value, from
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # key, why
    own_way: list[tuple[str, str]] = field(default_factory=list)  # key, how Courtyard does it
    notes: list[str] = field(default_factory=list)
    source: str = ""


def object_name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "?")


def guess_layout(values: dict[str, Any]) -> str:
    if {"config", "container", "tlsCA", "headlessService", "statefulSet"} & set(values):
        return "current"
    return "legacy"


def guess_release(found: ValuesFile) -> str:
    return release_and_origin(found)[0]


def release_and_origin(found: ValuesFile) -> tuple[str, str]:
    """The release a file was installed as, from the objects beside its values (a headless
    Service first): the fullname equals the release for a release named like the chart."""
    named = [(object_name(s), "Service") for s in found.services]
    named.sort(key=lambda item: not item[0].endswith(naming.HEADLESS_SUFFIX))
    named += [(secret.name, "Secret") for secret in found.secrets]
    for name, kind in named:
        fullname = naming.fullname_of(name, kind)
        if fullname:
            return fullname, f"the {kind} {name}"
    return DEFAULT_RELEASE, "nothing to go by: the chart's name; pass --release"


def _acknowledged(path: str, value: Any) -> str | None:
    parts = path.split(".")
    leaf = parts[-1]
    if "tls" in parts or leaf in ("secretName",) or parts[0] == "tlsCA":
        return CERTS
    if (leaf == "enabled" and value is True) or (leaf == "noAdvertise" and value is True):
        return ALWAYS
    if leaf in ("storageDirectory", "dir") and value == naming.STORE_DIR:
        return f"{ALWAYS} (JetStream stores in {naming.STORE_DIR})"
    if path in ("useFQDN",) and value is True:
        return "the 0.x routes always name pods by FQDN, in Courtyard too"
    if path == "nats.image" or path.startswith(("nats.image.", "container.image.")):
        return "Courtyard runs the pinned nats-server; export-helm sets the image"
    return None


def import_values(
    found: ValuesFile,
    *,
    release: str | None = None,
    namespace: str | None = None,
    layout: str | None = None,
) -> ImportResult:
    """The spec (as a raw mapping) the values file's intent maps to, with where each value
    was found, and what was left out and why."""
    values = found.values
    layout = layout or guess_layout(values)
    if layout not in ("current", "legacy"):
        raise CourtyardError(f"--layout {layout!r} is not current or legacy; pass one of them")
    how = "--release"
    if release is None:
        release, how = release_and_origin(found)
    ns_origin = "--namespace"
    if namespace is None:
        ns_origin = "the Service beside the values, else default"
        namespace = _service_namespace(found)
    raw: dict[str, Any] = {"release": release, "namespace": namespace}
    result = ImportResult(release, namespace, layout, raw, source=str(found.path))
    result.mapped.append(("release", release, how))
    result.mapped.append(("namespace", namespace, ns_origin))
    used = _map_settings(values, layout, result)
    if layout == "legacy":
        raw["helm"] = {"layout": "legacy"}
        result.mapped.append(("helm.layout", "legacy", "the file's 0.x keys"))
        if "cluster_name" not in raw:
            raw["cluster_name"] = naming.CHART_NAME
            result.mapped.append(
                ("cluster_name", naming.CHART_NAME, "the 0.x chart's default (its chart name)")
            )
    _import_sans(found, result)
    _sort_the_rest(values, used, result)
    return result


def _service_namespace(found: ValuesFile) -> str:
    return next(
        (
            str(obj["metadata"]["namespace"])
            for obj in found.services
            if (obj.get("metadata") or {}).get("namespace")
        ),
        "default",
    )


def _map_settings(values: dict[str, Any], layout: str, result: ImportResult) -> set[str]:
    """Each setting of SETTINGS found in the values (in the layout's place, or misplaced)
    into `result.raw`; returns the value paths it read."""
    used: set[str] = set()
    for key, places, misplaced in SETTINGS:
        for where in [*places[layout], *misplaced]:
            present, value = lookup(values, tuple(where.split(".")))
            if not present or isinstance(value, dict):
                continue
            used.add(where)
            section, _, leaf = key.rpartition(".")
            (result.raw.setdefault(section, {}) if section else result.raw)[leaf] = value
            origin = (
                where
                if where in places[layout]
                else (
                    f"{where} (misplaced: the chart reads "
                    f"{places[layout][0] if places[layout] else 'no such key'})"
                )
            )
            result.mapped.append((key, yamlsafe.cut(str(value)), origin))
            # The layout's other spellings of the same setting, when they agree, are read too.
            used.update(
                w for w in places[layout] if lookup(values, tuple(w.split("."))) == (True, value)
            )
            break
    return used


def _sort_the_rest(values: dict[str, Any], used: set[str], result: ImportResult) -> None:
    """Every value not read: done Courtyard's own way, or not mapped (and why)."""
    for keys, value in leaves(values):
        path = ".".join(keys)
        if path in used:
            continue
        why = _acknowledged(path, value)
        if why is None and path.startswith(("config.merge.", "auth.")):
            result.unmapped.append(
                (path, "Courtyard derives users and permissions from tls.clients; add them there")
            )
        elif why is None:
            result.unmapped.append((path, "Courtyard has no setting for it"))
        else:
            result.own_way.append((path, why))


def _import_sans(found: ValuesFile, result: ImportResult) -> None:
    """DNS and IP SANs of a real certificate beside the values, beyond the derived names."""
    sans: list[str] = []
    for secret in found.secrets:
        for entry in secret.entries:
            if entry.kind == "certificate":
                sans += [san for san in entry.sans if san not in sans]
                result.notes.append(
                    f"read the SANs of {entry.key} in the Secret {secret.name} "
                    f"({len(entry.sans)} names)"
                )
            elif entry.kind == "placeholder" and entry.key.endswith(".crt"):
                result.notes.append(
                    f"{entry.key} in the Secret {secret.name} is a placeholder; no SANs read"
                )
    if not sans:
        return
    # Names the spec derives anyway are left out: only the extra ones need listing.
    derived = _derived_sans(result.raw)
    extra = [san for san in sans if san not in derived and not san.startswith("DNS:*.")]
    if extra:
        result.raw.setdefault("tls", {})["extra_sans"] = extra
        result.mapped.append(("tls.extra_sans", ", ".join(extra), "the certificate's SANs"))


def _derived_sans(raw: dict[str, Any]) -> set[str]:
    try:
        loaded = _validated(yaml.safe_dump(raw), Path(DEFAULT_SPEC))
    except CourtyardError:
        return set()
    names = naming.names_for(loaded)
    return {f"{san.kind}:{san.value}" for san in [*names.route_sans, *names.server_sans]}


def _validated(text: str, target: Path):
    """The Spec `text` loads as, by the one loader every spec goes through."""
    try:
        return load_spec_text(text, target, source="the imported spec")
    except SpecError as exc:
        raise CourtyardError(f"{exc} (in what the values file maps to)") from None


def spec_text(result: ImportResult) -> str:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    header = (
        f"# Courtyard spec imported by `invoke import-helm` from {result.source} on {today}.\n"
        "# Every key not written here has Courtyard's default (see config/courtyard.yaml).\n"
    )
    return header + yaml.safe_dump(result.raw, sort_keys=False)


def write_spec(result: ImportResult, target: Path) -> None:
    """Write the spec to `target`, never over an existing file; validated first."""
    if target.exists():
        raise CourtyardError(
            f"{target} already exists; pass --out with a new file name (import-helm never "
            "overwrites a spec)"
        )
    if not target.parent.is_dir():
        raise CourtyardError(f"{target.parent} is not a folder; pass --out inside an existing one")
    text = spec_text(result)
    _validated(text, target)
    try:
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise CourtyardError(f"{target} appeared meanwhile; pass --out with a new name") from None

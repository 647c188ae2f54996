"""Reading `config/courtyard.yaml`: bounded, validated, every mistake one sentence.

Every check names the field and the bad value, so a user can fix the file from the message.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from courtyard.core import yamlsafe
from courtyard.core.errors import SpecError
from courtyard.project.limits import fit_problem
from courtyard.project.model import (
    ClientIdentity,
    HostPorts,
    JetStream,
    Ports,
    Spec,
    Subject,
    TeamLimits,
    Tls,
)
from courtyard.project.naming import DNS1123_RULE, RESERVED_IDENTITY, is_dns_label
from courtyard.project.sans import San, is_dns_name, parse_san
from courtyard.project.sizes import parse_size
from courtyard.project.subjects import (
    jetstream_name_problem,
    partial_overlap,
    team_subject_problem,
)

DEFAULT_SPEC = Path("config/courtyard.yaml")
SPEC_ENV = "COURTYARD_SPEC"
# Container ports the legacy 0.x chart writes as literals into nats.conf.
LEGACY_FIXED_PORTS = {"monitor": 8222, "cluster": 6222}
CHART_LAYOUTS = ("current", "legacy")
# A spec is a few dozen lines; anything this large is not one.
MAX_SPEC_BYTES = 256 * 1024
# JetStream clusters beyond a handful of nodes make no sense on one machine; every node is a
# container, a volume and a config, and Raft traffic grows with the square of the count.
MAX_REPLICAS = 9
# Docker's image reference grammar (distribution/reference): [domain[:port]/]name[:tag][@digest],
# each name component lowercase letters and digits joined by single '.', '_', '__' or dashes.
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REFERENCE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?/)?"
    rf"{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
# RFC 5280's upper bounds for the subject attributes Courtyard writes.
MAX_SUBJECT_CHARS = 64
# The route certificate's common name is the spec's with " routes" after it.
MAX_COMMON_NAME_CHARS = MAX_SUBJECT_CHARS - len(" routes")
# Validity beyond a century is a typo; it also keeps every date far inside what X.509 holds.
MAX_VALIDITY_DAYS = 36_500
# nats-server keeps store limits in a signed 64-bit integer.
MAX_STORE_BYTES = 2**63 - 1
# Linux's default range for outgoing connections' local ports (net.ipv4.ip_local_port_range).
EPHEMERAL_PORTS = range(32768, 60999)
# Any other string in a spec (an image reference, a domain) is short.
MAX_STRING_CHARS = 253

# What a restricted identity's mapping may hold, and how each entry is checked.
IDENTITY_KEYS = {
    "name": None,
    "publish": team_subject_problem,
    "subscribe": team_subject_problem,
    "streams": jetstream_name_problem,
    "buckets": jetstream_name_problem,
    "system": None,
    "limits": None,
}
# What a certificate subject field may hold besides letters and digits: none of these is
# escaped in an RFC 4514 name nor splits one (',', '+', '\\', '"', ';', '<', '>' and '#' are
# escaped, '=' splits an attribute, and a user name holding them matches no certificate).
SUBJECT_PUNCTUATION = " .-_'()&/:@"
# A team's `limits:` (courtyard.project.limits gives the defaults): sizes, then counts.
LIMIT_SIZES = ("memory", "file")
LIMIT_COUNTS = ("streams", "consumers", "connections")
# More streams, consumers or connections than any one machine serves is a typo.
MAX_LIMIT_COUNT = 1_000_000


def spec_path(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> Path:
    """The spec to use, the one rule for every task and the pytest plugin: an explicit path,
    else $COURTYARD_SPEC (of `environ`, default this process's), else config/courtyard.yaml
    under `root` (default the working folder)."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(SPEC_ENV) or (root or Path()) / DEFAULT_SPEC
    try:
        return Path(chosen).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 reports a symlink loop so
        raise SpecError(
            f"spec path {chosen} cannot be resolved ({exc.__class__.__name__}: a symlink "
            "loop?); point --spec at a YAML file"
        ) from None


def _read_bounded(file: Path) -> str:
    """The file's text, reading at most MAX_SPEC_BYTES + 1 bytes: a FIFO or a device is not
    trusted to say its size."""
    with file.open("rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"spec file {file} is larger than {MAX_SPEC_BYTES // 1024} KiB; "
            "point --spec at a Courtyard spec"
        )
    return data.decode("utf-8")


def load_spec(path: str | os.PathLike[str] | None = None) -> Spec:
    """Read and validate a spec file; raise SpecError with one clear sentence."""
    file = spec_path(path)
    if file.exists() and not file.is_file() and not file.is_dir():
        raise SpecError(
            f"spec file {file} is not a regular file (a pipe or a device?); point --spec at "
            "a YAML file"
        )
    try:
        text = _read_bounded(file)
    except FileNotFoundError:
        raise SpecError(
            f"spec file {file} does not exist; create it or point {SPEC_ENV} at one"
        ) from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise SpecError(
            f"spec file {file} cannot be read ({type(exc).__name__}); "
            "point --spec at a readable YAML file"
        ) from None
    return load_spec_text(text, file)


def load_spec_text(text: str, path: Path, *, source: str | None = None) -> Spec:
    """Validate a spec given as text, as if read from `path` (where its files will go);
    errors name it as `source` (default: the path)."""
    label = source or str(path)
    if len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"{label} is larger than {MAX_SPEC_BYTES // 1024} KiB")
    try:
        raw = yamlsafe.load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {label} {yamlsafe.failure(exc, 'a Courtyard spec')}") from None
    if raw is None:
        raise SpecError(
            f"spec file {label} is empty; write at least `release: <name>` (every other key "
            "has a default), or remove the file's path from --spec/COURTYARD_SPEC"
        )
    return parse_spec(raw, path, source=label)


TOP_KEYS = {
    "release",
    "namespace",
    "cluster_domain",
    "fullname_override",
    "cluster_name",
    "replicas",
    "image",
    "jetstream",
    "ports",
    "host_ports",
    "routes",
    "helm",
    "tls",
}


def parse_spec(raw: Any, path: Path, *, source: str | None = None) -> Spec:
    """Validate the parsed YAML mapping `raw` and build a Spec."""
    reader = _Reader(source or str(path))
    top = reader.mapping(raw, "")
    reader.only(top, "", TOP_KEYS)
    release = reader.dns_label(top, "release", "skunkwolf-nats")
    namespace = reader.dns_label(top, "namespace", "default")
    domain = reader.string(top, "cluster_domain", "cluster.local")
    if not is_dns_name(domain):
        reader.fail("cluster_domain", domain, "must be a DNS name like cluster.local")
    fullname_override = reader.optional_dns_label(top, "fullname_override")
    cluster_name = reader.optional_string(top, "cluster_name")
    if cluster_name is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", cluster_name):
        reader.fail("cluster_name", cluster_name, "may hold only letters, digits, - and _")
    replicas = reader.integer(top, "replicas", 3)
    if not 1 <= replicas <= MAX_REPLICAS:
        reader.fail("replicas", replicas, f"must be between 1 and {MAX_REPLICAS}")
    image = reader.optional_string(top, "image")
    if image is not None and not _IMAGE_REFERENCE.fullmatch(image):
        reader.fail(
            "image",
            image,
            "is not an image reference like nats:2.14.2-alpine or registry.example.com/nats:2.14.2",
        )
    js = reader.section(top, "jetstream", {"memory_store", "file_store"})
    jetstream = JetStream(
        memory_store=reader.size(js, "jetstream.memory_store", "256Mi"),
        file_store=reader.size(js, "jetstream.file_store", "1Gi"),
    )
    ports, host_ports = _ports(reader, top, replicas)
    routes = reader.section(top, "routes", {"use_fqdn"})
    use_fqdn = reader.boolean(routes, "routes.use_fqdn", False)
    layout = _chart_layout(reader, top, ports)
    tls = reader.tls(
        reader.section(
            top,
            "tls",
            {"subject", "ca_validity_days", "cert_validity_days", "extra_sans", "clients"},
        )
    )
    spec = Spec(
        path=path,
        release=release,
        namespace=namespace,
        cluster_domain=domain.lower(),
        fullname_override=fullname_override,
        cluster_name=cluster_name,
        replicas=replicas,
        image=image,
        use_fqdn=use_fqdn,
        chart_layout=layout,
        jetstream=jetstream,
        ports=ports,
        host_ports=host_ports,
        tls=tls,
        warnings=tuple(_warnings(host_ports, replicas)),
    )
    problem = fit_problem(spec)
    if problem:
        reader.fail(*problem)
    return spec


def _ports(reader: _Reader, top: dict[str, Any], replicas: int) -> tuple[Ports, HostPorts]:
    """The container ports (distinct) and the host port bases (whole ranges valid)."""
    p = reader.section(top, "ports", {"client", "cluster", "monitor"})
    ports = Ports(**{k: reader.port(p, f"ports.{k}", v) for k, v in vars(Ports()).items()})
    reader.distinct({f"ports.{k}": v for k, v in vars(ports).items()})
    hp = reader.section(top, "host_ports", {"client", "monitor", "cluster"})
    host_ports = HostPorts(
        **{k: reader.port(hp, f"host_ports.{k}", v) for k, v in vars(HostPorts()).items()}
    )
    reader.host_port_ranges(host_ports, replicas)
    return ports, host_ports


def _chart_layout(reader: _Reader, top: dict[str, Any], ports: Ports) -> str:
    """`helm.layout`; the legacy layout only with the container ports the 0.x chart fixes."""
    helm = reader.section(top, "helm", {"layout"})
    layout = reader.string(helm, "helm.layout", "current")
    if layout not in CHART_LAYOUTS:
        reader.fail("helm.layout", layout, f"must be one of {', '.join(CHART_LAYOUTS)}")
    if layout == "legacy":
        # The 0.x chart hard-codes these two container ports: any other value would be
        # exported, ignored by the chart, and differ between local and Kubernetes.
        for key, fixed in LEGACY_FIXED_PORTS.items():
            if getattr(ports, key) != fixed:
                reader.fail(
                    f"ports.{key}",
                    getattr(ports, key),
                    f"is not possible with helm.layout legacy: the 0.x chart always uses "
                    f"{fixed}; set ports.{key}: {fixed} or helm.layout: current",
                )
    return layout


def _warnings(host_ports: HostPorts, replicas: int) -> list[str]:
    """True things about a valid spec that a user should hear once."""
    warnings = []
    for key, base in vars(host_ports).items():
        if base + replicas - 1 >= EPHEMERAL_PORTS.start and base <= EPHEMERAL_PORTS.stop:
            warnings.append(
                f"host_ports.{key} = {base} reaches into Linux's ephemeral port range "
                f"({EPHEMERAL_PORTS.start}-{EPHEMERAL_PORTS.stop}), where an outgoing "
                "connection can hold a port when up needs it; choose a base below 32768"
            )
    if replicas < 3:
        warnings.append(
            f"replicas is {replicas}: JetStream needs 3 nodes to survive the loss of one"
        )
    elif replicas % 2 == 0:
        warnings.append(
            f"replicas is {replicas}: an even count tolerates no more failures than {replicas - 1}"
        )
    return warnings


class _Reader:
    """Typed access to the raw mapping, failing with the field's dotted name."""

    def __init__(self, source: str) -> None:
        self.path = source  # how errors name the spec

    def fail(self, name: str, value: object, why: str) -> NoReturn:
        raise SpecError(f"{self.path}: {name} = {yamlsafe.shown(value)} {why}")

    def mapping(self, value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            what = name or "the top level"
            raise SpecError(
                f"{self.path}: {what} must be a mapping of keys, not {yamlsafe.shown(value)}"
            )
        return value

    def only(self, section: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in section:
            if key not in allowed:
                raise SpecError(
                    f"{self.path}: unknown key {prefix}{yamlsafe.cut(str(key))}; "
                    f"expected one of {', '.join(sorted(allowed))}"
                )

    def section(self, top: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
        value = top.get(name)
        if value is None:
            return {}
        section = self.mapping(value, name)
        self.only(section, f"{name}.", allowed)
        return section

    @staticmethod
    def _leaf(name: str) -> str:
        return name.rpartition(".")[2]

    def string(
        self,
        section: dict[str, Any],
        name: str,
        default: str,
        max_chars: int = MAX_STRING_CHARS,
    ) -> str:
        value = section.get(self._leaf(name), default)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, value, "must be a non-empty string")
        if len(value.strip()) > max_chars:
            self.fail(name, value, f"is longer than {max_chars} characters")
        return value.strip()

    def subject_field(
        self, section: dict[str, Any], name: str, default: str, max_chars: int
    ) -> str:
        """A field of every certificate's subject, and so of each identity's login: only
        what reads back the same from the certificate, from nats-server's verify_and_map and
        from the configs' user names."""
        value = self.string(section, name, default, max_chars)
        odd = sorted({c for c in value if not (c.isalnum() or c in SUBJECT_PUNCTUATION)})
        if odd:
            self.fail(
                name,
                value,
                f"has {' '.join(repr(c) for c in odd)}, which the servers' login matching "
                "does not read back from a certificate subject, so no identity could log in; "
                f"use letters, digits, spaces and {' '.join(SUBJECT_PUNCTUATION.strip())}",
            )
        return value

    def optional_string(self, section: dict[str, Any], name: str) -> str | None:
        if section.get(self._leaf(name)) in (None, ""):
            return None
        return self.string(section, name, "")

    def dns_label(self, section: dict[str, Any], name: str, default: str) -> str:
        value = self.string(section, name, default)
        if not is_dns_label(value):
            self.fail(name, value, f"is not {DNS1123_RULE}")
        return value

    def optional_dns_label(self, section: dict[str, Any], name: str) -> str | None:
        if section.get(self._leaf(name)) in (None, ""):
            return None
        return self.dns_label(section, name, "")

    def integer(self, section: dict[str, Any], name: str, default: int) -> int:
        value = section.get(self._leaf(name), default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, value, "must be a whole number")
        return value

    def boolean(self, section: dict[str, Any], name: str, default: bool) -> bool:
        value = section.get(self._leaf(name), default)
        if not isinstance(value, bool):
            self.fail(name, value, "must be true or false")
        return value

    def size(self, section: dict[str, Any], name: str, default: str) -> str:
        value = section.get(self._leaf(name), default)
        try:
            size = parse_size(value)
        except ValueError:
            self.fail(name, value, "is not a size like 256Mi, 1Gi or 512MB")
        if size <= 0:
            self.fail(name, value, "must be larger than 0")
        if size > MAX_STORE_BYTES:
            self.fail(
                name,
                value,
                "is more than nats-server can hold (8Ei less one byte); use a real size",
            )
        return str(value).strip()

    def port(self, section: dict[str, Any], name: str, default: int) -> int:
        value = self.integer(section, name, default)
        if not 1 <= value <= 65535:
            self.fail(name, value, "is not a port between 1 and 65535")
        return value

    def distinct(self, ports: dict[str, int]) -> None:
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                self.fail(name, port, f"collides with {seen[port]}")
            seen[port] = name

    def host_port_ranges(self, host_ports: HostPorts, replicas: int) -> None:
        ranges = {f"host_ports.{k}": range(v, v + replicas) for k, v in vars(host_ports).items()}
        for name, ports in ranges.items():
            if ports[-1] > 65535:
                self.fail(name, ports.start, f"leaves no room for {replicas} nodes below 65536")
        for (a, ra), (b, rb) in itertools.combinations(ranges.items(), 2):
            if set(ra) & set(rb):
                self.fail(
                    b, rb.start, f"overlaps {a} (node i publishes on base + i, {replicas} nodes)"
                )

    def tls(self, section: dict[str, Any]) -> Tls:
        subj = self.section(
            section, "subject", {"common_name", "organization", "organizational_unit"}
        )
        defaults = Subject()
        subject = Subject(
            **{
                key: self.subject_field(
                    subj,
                    f"tls.subject.{key}",
                    default,
                    MAX_COMMON_NAME_CHARS if key == "common_name" else MAX_SUBJECT_CHARS,
                )
                for key, default in vars(defaults).items()
            }
        )
        ca_days = self.integer(section, "tls.ca_validity_days", 3650)
        cert_days = self.integer(section, "tls.cert_validity_days", 365)
        for name, days in (
            ("tls.ca_validity_days", ca_days),
            ("tls.cert_validity_days", cert_days),
        ):
            if days < 31:
                self.fail(
                    name,
                    days,
                    "must be at least 31 days (certificates renew 30 days before they expire)",
                )
            if days > MAX_VALIDITY_DAYS:
                self.fail(name, days, f"is more than {MAX_VALIDITY_DAYS} days (a century)")
        if cert_days > ca_days:
            self.fail(
                "tls.cert_validity_days", cert_days, f"exceeds tls.ca_validity_days ({ca_days})"
            )
        sans = self.list_of_strings(section, "tls.extra_sans", [])
        extra: list[San] = []
        for entry in sans:
            try:
                extra.append(parse_san(entry))
            except ValueError as exc:
                self.fail("tls.extra_sans", entry, f"is invalid: {exc}")
        clients = self.identities(section.get("clients", ["dev"]))
        return Tls(
            subject=subject,
            ca_validity_days=ca_days,
            cert_validity_days=cert_days,
            extra_sans=tuple(extra),
            clients=clients,
        )

    def identities(self, value: Any) -> tuple[ClientIdentity, ...]:
        """`tls.clients`: plain names (admins) and mappings (restricted identities)."""
        name = "tls.clients"
        if not isinstance(value, list) or not value:
            self.fail(name, value, "must list at least one client identity")
        found: list[ClientIdentity] = []
        for entry in value:
            identity = self.identity(entry)
            if identity.name == RESERVED_IDENTITY:
                self.fail(name, identity.name, "is Courtyard's own identity; choose another name")
            if identity.name in {i.name for i in found}:
                self.fail(name, identity.name, "is listed twice")
            found.append(identity)
        return tuple(found)

    def identity(self, entry: Any) -> ClientIdentity:
        if isinstance(entry, str):
            self.identity_name(entry)
            return ClientIdentity(entry)
        if not isinstance(entry, dict):
            self.fail("tls.clients", entry, "must be a name or a mapping with a name")
        self.only(entry, "tls.clients[].", set(IDENTITY_KEYS))
        name = self.identity_name(entry.get("name"))
        where = f"tls.clients[{name}]"
        system = self.boolean(entry, f"{where}.system", False)
        lists = {}
        for key, check in IDENTITY_KEYS.items():
            if key in ("name", "system", "limits"):
                continue
            items = self.list_of_strings(entry, f"{where}.{key}", [])
            for item in items:
                problem = None if system else check(item)  # a system identity: see below
                if problem:
                    self.fail(f"{where}.{key}", item, problem)
            if len(set(items)) != len(items):
                self.fail(f"{where}.{key}", items, "lists an entry twice")
            overlap = partial_overlap(items) if key in ("publish", "subscribe") else None
            if overlap and not system:
                first, second, shared = overlap
                self.fail(
                    f"{where}.{key}",
                    items,
                    f"has {first!r} and {second!r}, which overlap ({shared} matches both) "
                    "without one covering the other, so a message on both would cross the "
                    "team's bridge twice; list one pattern that covers both",
                )
            lists[key] = tuple(items)
        if system:
            listed = [key for key, items in lists.items() if items]
            if listed:
                self.fail(
                    f"{where}.{listed[0]}",
                    list(lists[listed[0]]),
                    "cannot be given to a system identity: it logs in to the system account, "
                    "which serves $SYS requests only; drop the list or `system: true`",
                )
            if "limits" in entry:
                self.fail(
                    f"{where}.limits",
                    entry["limits"],
                    "cannot be given to a system identity: only a team's account has limits",
                )
            return ClientIdentity(name, system=True)
        limits = self.team_limits(entry, f"{where}.limits")
        return ClientIdentity(name, restricted=True, limits=limits, **lists)

    def team_limits(self, entry: dict[str, Any], name: str) -> TeamLimits:
        if entry.get("limits") is None:
            return TeamLimits()
        section = self.mapping(entry["limits"], name)
        self.only(section, f"{name}.", {*LIMIT_SIZES, *LIMIT_COUNTS})
        given: dict[str, Any] = {}
        for key in LIMIT_SIZES:
            if key in section:
                given[key] = self.size(section, f"{name}.{key}", "")
        for key in LIMIT_COUNTS:
            if key in section:
                count = self.integer(section, f"{name}.{key}", 0)
                if not 1 <= count <= MAX_LIMIT_COUNT:
                    self.fail(f"{name}.{key}", count, f"must be between 1 and {MAX_LIMIT_COUNT:,}")
                given[key] = count
        return TeamLimits(**given)

    def identity_name(self, value: Any) -> str:
        if not is_dns_label(value):
            self.fail(
                "tls.clients",
                value,
                "is not a DNS-1123 name (used as file name and certificate CN)",
            )
        return value

    def list_of_strings(self, section: dict[str, Any], name: str, default: list[str]) -> list[str]:
        value = section.get(self._leaf(name), default)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, value, "must be a list of strings")
        for item in value:
            if len(item) > MAX_STRING_CHARS:
                self.fail(name, item, f"is longer than {MAX_STRING_CHARS} characters")
        return value

"""`invoke certs`: the CA, route, server and client certificates the spec asks for.

Idempotent: a certificate is (re)issued only when it is missing, its names or usages no
longer match the spec, it expires within RENEW_BEFORE, its CA changed, or on force.
Otherwise no file is touched. The nodes' certificate folders (`secret_folders`) follow.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from courtyard.artefacts import pki, secret_folders
from courtyard.artefacts.pki import Name, Usage
from courtyard.core.errors import CourtyardError
from courtyard.core.yamlsafe import cut
from courtyard.project import naming
from courtyard.project.layout import Layout
from courtyard.project.model import Spec
from courtyard.project.naming import ClusterNames
from courtyard.project.sans import San, sans_of

RENEW_BEFORE = dt.timedelta(days=30)
# RFC 5280's upper bound for a subject's common name and organizational unit.
MAX_NAME_CHARS = 64
# `invoke cert -o NAME` writes certs/NAME.crt|key: a plain, short file name.
_OUT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_MODE = 0o600


@dataclass(frozen=True)
class LeafPlan:
    """One leaf certificate the spec wants."""

    label: str
    cert_path: Path
    key_path: Path
    name: Name
    sans: tuple[San, ...]
    usage: Usage


@dataclass(frozen=True)
class CertResult:
    label: str
    path: Path
    action: str  # "created", "reissued" or "kept"
    reason: str = ""


def client_name(spec: Spec, identity: str) -> Name:
    """The subject of a client identity's certificate; the server maps it to the user."""
    subject = spec.tls.subject
    return Name(identity, subject.organization, subject.organizational_unit)


def login_names(spec: Spec) -> tuple[str, ...]:
    """Every identity a client certificate can log in as: the spec's and Courtyard's own."""
    return (*spec.tls.client_names, naming.RESERVED_IDENTITY)


def identity_named(spec: Spec, common_name: str) -> str | None:
    """The identity whose certificate subject has this common name (as the servers compare
    names: case and surrounding spaces aside), or None."""
    wanted = common_name.strip().casefold()
    return next((name for name in login_names(spec) if name.casefold() == wanted), None)


def leaf_plans(spec: Spec, names: ClusterNames, layout: Layout) -> list[LeafPlan]:
    subject = spec.tls.subject
    org, ou = subject.organization, subject.organizational_unit
    plans = [
        LeafPlan(
            "route",
            layout.cert("route"),
            layout.key("route"),
            Name(f"{subject.common_name} routes", org, ou),
            tuple(names.route_sans),
            Usage.ROUTE,
        ),
        LeafPlan(
            "server",
            layout.cert("server"),
            layout.key("server"),
            Name(subject.common_name, org, ou),
            tuple(names.server_sans),
            Usage.SERVER,
        ),
    ]
    plans += [
        LeafPlan(
            f"client {identity}",
            layout.client_cert(identity),
            layout.client_key(identity),
            client_name(spec, identity),
            (),
            Usage.CLIENT,
        )
        for identity in login_names(spec)
    ]
    return plans


def stale_reason(plan: LeafPlan, ca_cert: x509.Certificate, now: dt.datetime) -> str | None:
    """Why the leaf on disk must be reissued, or None when it still fits the plan."""
    if not plan.cert_path.exists() or not plan.key_path.exists():
        return "missing"
    try:
        cert = pki.load_cert(plan.cert_path)
        key = pki.load_key(plan.key_path)
    except ValueError:
        return "unreadable"
    if not pki.issued_by(cert, ca_cert):
        return "CA changed"
    if not pki.matches_key(cert, key):
        return "key does not match"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return "expires within 30 days"
    if sans_of(cert) != set(plan.sans):
        return "SANs changed"
    if pki.usages_of(cert) != set(plan.usage.value):
        return "key usages changed"
    if cert.subject != plan.name.to_x509():
        return "subject changed"
    return None


def ensure_ca(
    spec: Spec, layout: Layout, now: dt.datetime
) -> tuple[x509.Certificate, pki.PrivateKey, CertResult]:
    """Load the CA, or create it when missing or about to expire."""
    reason = None
    has_cert, has_key = layout.ca_cert.exists(), layout.ca_key.exists()
    if has_cert != has_key:
        present, absent = (
            (layout.ca_cert, layout.ca_key) if has_cert else (layout.ca_key, layout.ca_cert)
        )
        raise CourtyardError(
            f"{absent} is missing but {present} is there; restore it from a backup, or remove "
            f"{present} too to start over with a new CA on purpose (every certificate is then "
            "reissued and clients need the new ca.crt)"
        )
    if not has_cert:
        reason = "missing"
    else:
        try:
            cert, key = pki.load_cert(layout.ca_cert), pki.load_key(layout.ca_key)
        except ValueError:
            raise CourtyardError(
                f"{layout.ca_cert} or {layout.ca_key} is unreadable; remove both to make a new CA"
            ) from None
        if not pki.matches_key(cert, key):
            raise CourtyardError(
                f"{layout.ca_key} does not belong to {layout.ca_cert}; remove both to make a new CA"
            )
        # A CA near its end is kept: replacing it in one step would split a running cluster
        # (its nodes would refuse each other); `expiring` warns, `invoke rotate-ca` replaces it.
        return cert, key, CertResult("CA", layout.ca_cert, "kept")
    subject = spec.tls.subject
    name = Name(f"{subject.common_name} CA", subject.organization, subject.organizational_unit)
    cert, key = pki.create_ca(name, spec.tls.ca_validity_days, now=now)
    pki.write_pair(cert, key, layout.ca_cert, layout.ca_key)
    action = "created" if reason == "missing" else "reissued"
    return cert, key, CertResult("CA", layout.ca_cert, action, reason or "")


def ensure_certs(
    spec: Spec,
    names: ClusterNames,
    layout: Layout,
    *,
    force: bool = False,
    now: dt.datetime | None = None,
) -> list[CertResult]:
    """Bring certs/ in line with the spec; returns what happened to each certificate."""
    now = now or pki.utcnow()
    ca_cert, ca_key, ca_result = ensure_ca(spec, layout, now)
    results = [ca_result]
    for plan in leaf_plans(spec, names, layout):
        results.append(_ensure_leaf(plan, ca_cert, ca_key, spec.tls.cert_validity_days, now, force))
    results += repair_key_modes(layout)
    secret_folders.sync(layout)
    return results


def repair_key_modes(layout: Layout) -> list[CertResult]:
    """Every private key under certs/ back to mode 0600; one result per key repaired."""
    repaired = []
    for key in sorted(layout.certs.rglob("*.key")):
        if not key.is_file():
            continue
        mode = key.stat().st_mode & 0o777
        if mode != KEY_MODE:
            key.chmod(KEY_MODE)
            repaired.append(
                CertResult(f"key {key.stem}", key, "mode repaired", f"was {mode:04o}, now 0600")
            )
    return repaired


def _ensure_leaf(
    plan: LeafPlan,
    ca_cert: x509.Certificate,
    ca_key: pki.PrivateKey,
    days: int,
    now: dt.datetime,
    force: bool,
) -> CertResult:
    reason = stale_reason(plan, ca_cert, now)
    if reason is None and not force:
        return CertResult(plan.label, plan.cert_path, "kept")
    cert, key = pki.issue_leaf(
        ca_cert, ca_key, plan.name, list(plan.sans), plan.usage, days, now=now
    )
    pki.write_pair(cert, key, plan.cert_path, plan.key_path)
    action = "created" if reason == "missing" else "reissued"
    return CertResult(plan.label, plan.cert_path, action, reason or "forced")


def issue_adhoc(
    spec: Spec,
    layout: Layout,
    *,
    common_name: str,
    base: str,
    organizational_unit: str | None,
    sans: list[San],
    usage: Usage,
    force: bool = False,
) -> CertResult:
    """`invoke cert`: one leaf from the same CA, written to certs/<base>.crt|key."""
    reserved = layout.reserved_cert_names
    if not _OUT_NAME.fullmatch(base or "") or base in reserved:
        raise CourtyardError(
            f"output name {cut(repr(base))} is not allowed; choose a plain file name of letters, "
            f"digits, '.', '_' and '-' (at most 64 characters) other than {', '.join(reserved)}"
        )
    if not common_name.strip():
        raise CourtyardError('the common name (-c) is empty; pass -c "NATS Cluster"')
    login = identity_named(spec, common_name)
    if login is not None:
        raise CourtyardError(
            f"the common name {cut(repr(common_name))} is the login of identity {login} (the "
            "servers map a certificate's subject to its user), so this certificate would be a "
            "second login for it; add the identity you need to tls.clients in the spec and "
            "run `invoke certs` instead"
        )
    for option, value in (("common name (-c)", common_name), ("unit (-u)", organizational_unit)):
        if value is not None and len(value) > MAX_NAME_CHARS:
            raise CourtyardError(
                f"the {option} has {len(value)} characters; X.509 allows at most "
                f"{MAX_NAME_CHARS}, so shorten it"
            )
    now = pki.utcnow()
    ca_cert, ca_key, _ = ensure_ca(spec, layout, now)
    plan = LeafPlan(
        base,
        layout.cert(base),
        layout.key(base),
        Name(common_name, spec.tls.subject.organization, organizational_unit),
        tuple(sans),
        usage,
    )
    return _ensure_leaf(plan, ca_cert, ca_key, spec.tls.cert_validity_days, now, force)


def show_certs(
    spec: Spec, names: ClusterNames, layout: Layout
) -> list[tuple[str, Path, dict[str, object]]]:
    """Each certificate on disk with its subject, SANs, EKU, expiry and fingerprint: the
    spec's, then every other one Courtyard wrote (`invoke cert`, and the certificates of
    identities the spec no longer has), since each of those signed by the CA may log in."""
    found = []
    entries = [("CA", layout.ca_cert)]
    entries += [(plan.label, plan.cert_path) for plan in leaf_plans(spec, names, layout)]
    entries += other_certs(spec, names, layout)
    for label, path in entries:
        if path.exists():
            found.append((label, path, describe_file(path)))
    return found


def other_certs(spec: Spec, names: ClusterNames, layout: Layout) -> list[tuple[str, Path]]:
    """The certificates in certs/ that the spec does not plan: ad-hoc ones, and those of
    identities since removed from the spec."""
    planned = {layout.ca_cert, layout.ca_bundle}
    planned |= {plan.cert_path for plan in leaf_plans(spec, names, layout)}
    found = [(f"ad-hoc {p.stem}", p) for p in sorted(layout.certs.glob("*.crt"))]
    found += [
        (f"client {p.stem} (not in the spec)", p)
        for p in sorted((layout.certs / "clients").glob("*.crt"))
    ]
    return [(label, path) for label, path in found if path not in planned]


def describe_file(path: Path) -> dict[str, object]:
    """`pki.describe` of the certificate in `path`, or a note that it cannot be read."""
    try:
        return pki.describe(pki.load_cert(path))
    except ValueError:
        return {"error": "unreadable: not a PEM certificate; run `invoke certs` to reissue it"}


@dataclass(frozen=True)
class Expiring:
    label: str
    path: Path
    days_left: int
    renew: str  # the command that renews it


def expiring(
    spec: Spec,
    names: ClusterNames,
    layout: Layout,
    *,
    within: dt.timedelta = RENEW_BEFORE,
    now: dt.datetime | None = None,
) -> list[Expiring]:
    """Every certificate on disk that expires within `within`, with what renews it: leaves
    are reissued by `invoke up` (and reloaded by the nodes), the CA by `invoke rotate-ca`."""
    now = now or pki.utcnow()
    entries = [("CA", layout.ca_cert, "invoke rotate-ca")]
    entries += [(p.label, p.cert_path, "invoke up") for p in leaf_plans(spec, names, layout)]
    found = []
    for label, path, renew in entries:
        try:
            left = pki.load_cert(path).not_valid_after_utc - now
        except (OSError, ValueError):
            continue
        if left < within:
            found.append(Expiring(label, path, left.days, renew))
    return found


def earliest_expiry(paths: list[Path]) -> str:
    """The earliest expiry date of the certificates in `paths`, for a status table:
    "missing" when none exists, "unreadable" when one cannot be parsed."""
    dates = []
    for path in paths:
        if not path.exists():
            continue
        try:
            dates.append(pki.load_cert(path).not_valid_after_utc)
        except ValueError:
            return "unreadable"
    return min(dates).date().isoformat() if dates else "missing"

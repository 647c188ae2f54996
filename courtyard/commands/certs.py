"""`invoke certs` and `invoke cert`: the spec's certificates, and one ad-hoc leaf."""

from __future__ import annotations

import json
import time

from courtyard.artefacts import authorization
from courtyard.artefacts import certs as certs_mod
from courtyard.artefacts.pki import Usage
from courtyard.commands.output import table
from courtyard.commands.steps import load, load_locked
from courtyard.core.errors import CourtyardError
from courtyard.lifecycle.prepare import rel, warn_expiring
from courtyard.project.loaded import Project
from courtyard.project.sans import parse_san_list

SHOWN_FIELDS = (
    "error",
    "subject",
    "issuer",
    "sans",
    "eku",
    "not_after",
    "days_left",
    "sha256",
    "rights",
)


def certs(spec: str | None, *, force: bool, show: bool, as_json: bool) -> None:
    if show:
        show_certs(load(spec), as_json=as_json)
        return
    with load_locked(spec, "certs") as project:
        started = time.monotonic()
        results = certs_mod.ensure_certs(project.spec, project.names, project.layout, force=force)
        warn_expiring(project)
    if as_json:
        print(
            json.dumps(
                [
                    {"name": r.label, "path": str(r.path), "action": r.action, "reason": r.reason}
                    for r in results
                ],
                indent=2,
            )
        )
        return
    print(
        table(
            ["certificate", "file", "action"],
            [
                (r.label, rel(project, r.path), r.action + (f" ({r.reason})" if r.reason else ""))
                for r in results
            ],
        )
    )
    print(
        f"Done in {time.monotonic() - started:.2f}s. Private keys are mode 0600 in "
        f"{rel(project, project.layout.certs)}/. Next: `invoke configs` or `invoke up`."
    )


def show_certs(project: Project, *, as_json: bool) -> None:
    """`invoke certs --show`: what is on disk, read only."""
    shown = certs_mod.show_certs(project.spec, project.names, project.layout)
    if not shown:
        raise CourtyardError(f"no certificates in {project.layout.certs}; run `invoke certs`")
    identities = {f"client {i.name}": i for i in authorization.identities(project.spec)}
    for label, _, info in shown:
        if label in identities:
            info["rights"] = authorization.rights(identities[label])
        elif label.startswith(("ad-hoc ", "client ")) and "clientAuth" in info.get("eku", []):
            info["rights"] = login_of(project, str(info.get("subject")))
    if as_json:
        print(
            json.dumps(
                [{"name": label, "path": str(path), **info} for label, path, info in shown],
                indent=2,
            )
        )
        return
    for label, path, info in shown:
        print(f"{label}: {rel(project, path)}")
        for key in SHOWN_FIELDS:
            if key not in info:
                continue
            value = info[key]
            value = ", ".join(value) if isinstance(value, list) else value
            print(f"  {key:<10} {value or '-'}")


def login_of(project: Project, subject: str) -> str:
    """Who a client certificate outside the spec's plan logs in as: the identity whose
    subject it carries (a second login for it), else nobody."""
    for identity in authorization.identities(project.spec):
        if certs_mod.client_name(project.spec, identity.name).to_x509().rfc4514_string() == subject:
            return (
                f"logs in as {identity.name}, a second login for it: delete this file, and "
                "run `invoke rotate-ca` if a copy may exist elsewhere"
            )
    return "none: no identity of the spec has this subject, so the servers refuse its login"


def cert(
    spec: str | None,
    *,
    common_name: str,
    out: str,
    unit: str | None,
    sans: str | None,
    route: bool,
    client: bool,
    force: bool,
) -> None:
    if route and client:
        raise CourtyardError("--route and --client exclude each other; choose one")
    try:
        san_list = parse_san_list(sans) if sans else []
    except ValueError as exc:
        raise CourtyardError(f"{exc}") from None
    with load_locked(spec, "cert") as project:
        usage = Usage.ROUTE if route else Usage.CLIENT if client else Usage.SERVER
        result = certs_mod.issue_adhoc(
            project.spec,
            project.layout,
            common_name=common_name,
            base=out,
            organizational_unit=unit,
            sans=san_list,
            usage=usage,
            force=force,
        )
    key = project.layout.key(out)
    print(
        f"{result.label}: {rel(project, result.path)} and {rel(project, key)} (mode 0600) "
        f"{result.action}" + (f" ({result.reason})" if result.reason else "")
    )
    print(f"Next: `invoke certs --show`, or use them with {rel(project, project.layout.ca_cert)}.")

"""What each invoke task does, printed for people (or as JSON); tasks.py only parses options."""

from __future__ import annotations

import json
import time

from courtyard import certs as certs_mod
from courtyard import nodeconf
from courtyard.errors import CourtyardError
from courtyard.output import step, table, warn
from courtyard.pki import Usage
from courtyard.project import Project, load_project
from courtyard.sans import parse_san_list


def _load(spec: str | None) -> Project:
    project = load_project(spec)
    for message in project.spec.warnings:
        warn(message)
    return project


def _rel(project: Project, path) -> str:
    try:
        return str(path.relative_to(project.spec.root))
    except ValueError:
        return str(path)


def prepare(project: Project, *, force_certs: bool = False) -> None:
    """Certificates and node configs, each as one step line; shared by certs, configs and up."""
    with step("Certificates") as info:
        results = certs_mod.ensure_certs(project.spec, project.names, project.layout,
                                         force=force_certs)
        changed = [f"{r.label} {r.action}" + (f" ({r.reason})" if r.reason else "")
                   for r in results if r.action != "kept"]
        info["detail"] = ", ".join(changed) if changed else f"{len(results)} up to date"
    with step("Node configs checked by nats-server -t") as info:
        written = nodeconf.write_configs(project.spec, project.names, project.layout)
        nodeconf.check_configs(project.names, project.layout)
        changed_configs = [r.pod for r in written if r.changed]
        info["detail"] = (f"wrote {', '.join(changed_configs)}" if changed_configs
                          else f"{len(written)} up to date")


def certs(spec: str | None, *, force: bool, show: bool, as_json: bool) -> None:
    project = _load(spec)
    if show:
        shown = certs_mod.show_certs(project.spec, project.names, project.layout)
        if not shown:
            raise CourtyardError(f"no certificates in {project.layout.certs}; run `invoke certs`")
        if as_json:
            print(json.dumps([{"name": label, "path": str(path), **info}
                              for label, path, info in shown], indent=2))
            return
        for label, path, info in shown:
            print(f"{label}: {_rel(project, path)}")
            for key in ("subject", "issuer", "sans", "eku", "not_after", "sha256"):
                value = info[key]
                value = ", ".join(value) if isinstance(value, list) else value
                print(f"  {key:<10} {value or '-'}")
        return
    started = time.monotonic()
    results = certs_mod.ensure_certs(project.spec, project.names, project.layout, force=force)
    if as_json:
        print(json.dumps([{"name": r.label, "path": str(r.path), "action": r.action,
                           "reason": r.reason} for r in results], indent=2))
        return
    print(table(["certificate", "file", "action"],
                [(r.label, _rel(project, r.path), r.action + (f" ({r.reason})" if r.reason else ""))
                 for r in results]))
    print(f"Done in {time.monotonic() - started:.2f}s. Private keys are mode 0600 in "
          f"{_rel(project, project.layout.certs)}/. Next: `invoke configs` or `invoke up`.")


def cert(spec: str | None, *, common_name: str, out: str, unit: str | None, sans: str | None,
         route: bool, client: bool, force: bool) -> None:
    if route and client:
        raise CourtyardError("--route and --client exclude each other; choose one")
    try:
        san_list = parse_san_list(sans) if sans else []
    except ValueError as exc:
        raise CourtyardError(f"{exc}") from None
    project = _load(spec)
    usage = Usage.ROUTE if route else Usage.CLIENT if client else Usage.SERVER
    result = certs_mod.issue_adhoc(
        project.spec, project.layout, common_name=common_name, base=out,
        organizational_unit=unit, sans=san_list, usage=usage, force=force,
    )
    key = project.layout.key(out)
    print(f"{result.label}: {_rel(project, result.path)} and {_rel(project, key)} (mode 0600) "
          f"{result.action}" + (f" ({result.reason})" if result.reason else ""))
    print(f"Next: `invoke certs --show`, or use them with {_rel(project, project.layout.ca_cert)}.")


def configs(spec: str | None) -> None:
    project = _load(spec)
    prepare(project)
    print(f"Configs in {_rel(project, project.layout.nodes)}/. Next: `invoke up`.")

"""What every run of nodes needs first, each step reported as one line with its duration:
reach the engine, write certificates and node configs (checked by `nats-server -t`), choose
the node image."""

from __future__ import annotations

from pathlib import Path

import docker

from courtyard.artefacts import certs as certs_mod
from courtyard.artefacts import nodeconf
from courtyard.artefacts.config_check import check_configs
from courtyard.core.reporter import PRINTER, Reporter
from courtyard.project.loaded import Project
from courtyard.runtime import engine
from courtyard.runtime.image import ImageChoice, ensure_image


def rel(project: Project, path: Path) -> str:
    """`path` relative to the project folder when it lies inside, for shorter lines."""
    try:
        return str(path.relative_to(project.spec.root))
    except ValueError:
        return str(path)


def connect_engine(reporter: Reporter = PRINTER) -> docker.DockerClient:
    with reporter.step("Docker engine") as info:
        client = engine.connect()
        info["detail"] = f"{client.version().get('Version', '?')}"
    return client


def write_certificates(
    project: Project, *, force: bool = False, reporter: Reporter = PRINTER
) -> None:
    with reporter.step("Certificates") as info:
        results = certs_mod.ensure_certs(project.spec, project.names, project.layout, force=force)
        changed = [
            f"{r.label} {r.action}" + (f" ({r.reason})" if r.reason else "")
            for r in results
            if r.action != "kept"
        ]
        info["detail"] = ", ".join(changed) if changed else f"{len(results)} up to date"
    warn_expiring(project, reporter)


def warn_expiring(project: Project, reporter: Reporter = PRINTER) -> None:
    """One line per certificate that expires within 30 days, with the command renewing it."""
    for item in certs_mod.expiring(project.spec, project.names, project.layout):
        reporter.warn(
            f"{rel(project, item.path)} ({item.label}) expires in {item.days_left} days; "
            f"renew it with `{item.renew}`"
        )


def write_node_configs(project: Project, reporter: Reporter = PRINTER) -> None:
    with reporter.step("Node configs checked by nats-server -t") as info:
        names, layout = project.names, project.layout
        # Checked before they are written: a config nats-server rejects never reaches disk.
        written = nodeconf.write_configs(
            project.spec, names, layout, lambda texts: check_configs(names, layout, texts)
        )
        changed = [r.pod for r in written if r.changed]
        info["detail"] = f"wrote {', '.join(changed)}" if changed else f"{len(written)} up to date"


def prepare(project: Project, *, force_certs: bool = False, reporter: Reporter = PRINTER) -> None:
    """Certificates, then node configs: what every command that runs or exports nodes needs."""
    write_certificates(project, force=force_certs, reporter=reporter)
    write_node_configs(project, reporter)


def choose_image(
    client: docker.DockerClient, project: Project, reporter: Reporter = PRINTER
) -> ImageChoice:
    with reporter.step("Node image") as info:
        image = ensure_image(client, project.spec.image)
        info["detail"] = f"{image.tag}, {image.reason}"
    return image

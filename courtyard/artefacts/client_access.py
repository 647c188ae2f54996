"""How a client reaches the cluster from the host: environment variables and a nats CLI context."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.project.loaded import Project


def client_identity(project: Project, identity: str | None = None) -> str:
    """The identity to use: the one named (it must be in the spec), else the default."""
    names = project.names
    if identity is None:
        return names.default_identity
    if identity not in names.identities:
        raise CourtyardError(
            f"no client identity {identity!r}; the spec has {', '.join(names.identities)}"
        )
    return identity


def restricted(project: Project, identity: str) -> bool:
    return any(c.name == identity and c.restricted for c in project.spec.tls.clients)


def env_vars(project: Project, identity: str | None = None) -> dict[str, str]:
    """How a client reaches the cluster as `identity`. A restricted identity receives replies
    only on its own inbox prefix, so its clients must use it (NATS_INBOX_PREFIX)."""
    who = client_identity(project, identity)
    layout = project.layout
    env = {
        "NATS_URL": ",".join(project.names.client_urls),
        "NATS_CA": str(layout.ca_bundle),
        "NATS_CERT": str(layout.client_cert(who)),
        "NATS_KEY": str(layout.client_key(who)),
    }
    if restricted(project, who):
        env["NATS_INBOX_PREFIX"] = naming.inbox_prefix(who)
    return env


def context_dir() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "nats" / "context"


def write_nats_context(project: Project, identity: str | None = None) -> Path:
    """A context for the nats CLI (`nats --context NAME ...`), in its own context folder."""
    who = client_identity(project, identity)
    env = env_vars(project, who)
    context = {
        "description": f"Courtyard cluster {project.names.fullname} as {who} ({project.spec.path})",
        "url": env["NATS_URL"],
        "ca": env["NATS_CA"],
        "cert": env["NATS_CERT"],
        "key": env["NATS_KEY"],
    }
    if "NATS_INBOX_PREFIX" in env:
        context["inbox_prefix"] = env["NATS_INBOX_PREFIX"]
    path = context_path(project, who)
    write_file(path, json.dumps(context, indent=2) + "\n")
    return path


def context_path(project: Project, identity: str) -> Path:
    """Where the identity's context goes: its plain name, unless a context of that name is
    another checkout's (or not Courtyard's at all), which is never overwritten; then the
    name with a short hash of this spec's path."""
    names = project.names
    plain = context_dir() / f"{names.nats_context(identity)}.json"
    if _is_ours(plain, project):
        return plain
    return context_dir() / f"{names.nats_context(identity, str(project.spec.path))}.json"


def _is_ours(path: Path, project: Project) -> bool:
    """No file there yet, or a Courtyard context of this checkout (it trusts its CA bundle)
    or of a checkout that is gone."""
    if not path.exists():
        return True
    try:
        existing = json.loads(path.read_bytes()[: 64 * 1024])
    except (OSError, ValueError):
        return False
    if not isinstance(existing, dict):
        return False
    courtyard = str(existing.get("description", "")).startswith("Courtyard cluster ")
    ca = str(existing.get("ca", ""))
    # A checkout whose CA bundle is gone (a deleted clone) gives its name up.
    return courtyard and (ca == str(project.layout.ca_bundle) or not Path(ca).exists())


def shell_exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())

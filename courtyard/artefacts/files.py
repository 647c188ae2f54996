"""Writing generated files: atomically, only when the content changed, keys with mode 0600."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_file(path: Path, data: bytes | str, *, private: bool = False) -> bool:
    """Write `data` to `path` atomically unless it already holds exactly that.

    Returns True when the file was (re)written. A private file is created with mode 0600
    before any byte reaches it, and an existing one is brought back to 0600.
    """
    content = data.encode() if isinstance(data, str) else data
    mode = 0o600 if private else 0o644
    # Only a regular file is read back: a FIFO (a node's start gate) would block the read.
    if path.is_file() and path.read_bytes() == content:
        if private and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True

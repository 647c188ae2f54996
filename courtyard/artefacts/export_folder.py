"""An export writes only into a folder it owns, and removes only what it wrote.

A folder is Courtyard's when it does not exist yet, is empty, or holds nothing but files an
earlier export wrote, unchanged since. What an export wrote is kept in a small manifest
(`.courtyard-export.json`: each file's name and SHA-256). A folder an export wrote before
manifests existed is recognised by the first line Courtyard writes into each file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.core.errors import CourtyardError

MANIFEST = ".courtyard-export.json"


@dataclass(frozen=True)
class Planned:
    """One file an export is about to write."""

    name: str
    content: bytes
    private: bool = False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(folder: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        files = data["files"]
        return {str(name): [str(h) for h in hashes] for name, hashes in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _ours(path: Path, manifest: dict[str, list[str]], signatures: tuple[bytes, ...]) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    data = path.read_bytes()
    if path.name in manifest:
        return _digest(data) in manifest[path.name]
    return not manifest and any(data.startswith(signature) for signature in signatures)


def check_owned(folder: Path, signatures: tuple[bytes, ...] = ()) -> None:
    """Raise one sentence unless `folder` is free for an export (see the module's rule)."""
    if folder.exists() and not folder.is_dir():
        raise CourtyardError(f"{folder} is a file, not a folder; pass --out a folder")
    if not folder.exists():
        return
    manifest = _read_manifest(folder)
    foreign = [
        entry.name
        for entry in sorted(folder.iterdir())
        if entry.name != MANIFEST and not _ours(entry, manifest, signatures)
    ]
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise CourtyardError(
            f"{folder} holds {shown}, which Courtyard did not write (or which changed since); "
            "an export writes only into an empty folder or one it wrote before: choose "
            "another --out, or move those files away"
        )


def write_owned(folder: Path, planned: list[Planned], remove: tuple[str, ...] = ()) -> list[Path]:
    """Write `planned` into `folder` (after `check_owned`) and remove the files named in
    `remove` that an earlier export wrote; returns the paths written.

    The manifest is written first with the old and the new digests, so an export cut short
    still leaves a folder the next export recognises, and last with the new ones only."""
    old = _read_manifest(folder)
    merged = {name: list(hashes) for name, hashes in old.items()}
    for item in planned:
        merged.setdefault(item.name, []).append(_digest(item.content))
    folder.mkdir(parents=True, exist_ok=True)
    write_file(folder / MANIFEST, json.dumps({"files": merged}, indent=1, sort_keys=True))
    written = []
    for item in planned:
        write_file(folder / item.name, item.content, private=item.private)
        written.append(folder / item.name)
    for name in remove:
        path = folder / name
        if path.is_file() and (name in old or not old):
            path.unlink()
    final = {item.name: [_digest(item.content)] for item in planned}
    write_file(folder / MANIFEST, json.dumps({"files": final}, indent=1, sort_keys=True))
    return written


def git_tracks(folder: Path, probe_name: str) -> bool | None:
    """Would git track a file `probe_name` written into `folder`? True or False when that is
    known, None when it cannot be told (a git work tree, but no git to ask)."""
    anchor = next(p for p in (folder, *folder.parents) if p.exists())
    in_work_tree = any((p / ".git").exists() for p in (anchor, *anchor.parents))
    if not in_work_tree and not os.environ.get("GIT_DIR"):
        return False
    git = shutil.which("git")
    if git is None:
        return None
    try:
        inside = subprocess.run(
            [git, "-C", str(anchor), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if inside.returncode != 0:  # a .git is there but git will not say (e.g. ownership)
            return None
        if inside.stdout.strip() != "true":
            return False
        ignored = subprocess.run(
            [git, "-C", str(anchor), "check-ignore", "-q", str(folder / probe_name)],
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # check-ignore: 0 ignored, 1 not ignored, 128 an error (then nothing is known)
    return {0: False, 1: True}.get(ignored.returncode)

"""Node configs checked by the pinned `nats-server -t`, with host paths for the mount paths."""

from __future__ import annotations

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from courtyard.artefacts.natsconf import quote
from courtyard.artefacts.nodeconf import node_mounts
from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.project.layout import Layout
from courtyard.project.naming import ClusterNames
from courtyard.project.server import server_binary


def check_config(path: Path, mounts: dict[str, Path], text: str | None = None) -> None:
    """Run the pinned `nats-server -t` on the config at `path` (or on `text`, the config to
    be written there), with host paths for mounts.

    Raises CourtyardError with nats-server's own words when the config is rejected.
    """
    text = path.read_text(encoding="utf-8") if text is None else text
    with tempfile.TemporaryDirectory(prefix="courtyard-check-") as tmp:
        # Longest container paths first, so /etc/nats-config/nats.conf is not cut by a prefix.
        for container_path in sorted(mounts, key=len, reverse=True):
            text = text.replace(f'"{container_path}"', quote(str(mounts[container_path])))
        text = text.replace(f'"{naming.STORE_DIR}"', quote(str(Path(tmp) / "data")))
        checked = Path(tmp) / path.name
        checked.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [str(server_binary()), "-t", "-c", str(checked)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().replace(str(checked), str(path))
        last = said.splitlines()[-1] if said else f"exit code {proc.returncode}"
        raise CourtyardError(f"nats-server rejects {path}: {last}")


def check_configs(
    names: ClusterNames, layout: Layout, texts: dict[str, str] | None = None
) -> list[Path]:
    """Check every node's config (on disk, or the pod's text in `texts` about to be written),
    side by side (each check is its own nats-server process); the configs, in pod order."""
    paths = [layout.node_config(pod) for pod in names.pods]
    texts = texts or {}
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        checks = [
            pool.submit(check_config, path, node_mounts(layout, pod), texts.get(pod))
            for pod, path in zip(names.pods, paths, strict=True)
        ]
        for check in checks:
            check.result()
    return paths

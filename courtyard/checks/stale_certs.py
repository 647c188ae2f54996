"""Must a running node reload its certificates? Asked of its records and of the node itself.

A node has loaded its certificate folders when it last started or reloaded; what it loaded
is recorded (`run/<pod>/secrets-digest`, `servers/records.py`) and compared with the folders
now, and with what it really serves on its client and route ports (`servers/reload.py`).
"""

from __future__ import annotations

from courtyard.artefacts import secret_folders
from courtyard.project.loaded import Project
from courtyard.servers.records import read_record
from courtyard.servers.reload import expected_fingerprints, served


def stale_reasons(project: Project, index: int) -> list[str]:
    """Why node `index` must reload its certificates; [] when it runs what the folders hold."""
    pod = project.names.pod(index)
    reasons = []
    recorded = read_record(project.layout.secrets_digest(pod))
    if recorded is not None and recorded != secret_folders.digest(project.layout):
        reasons.append("certificates changed")
    expected = expected_fingerprints(project)
    now = served(project, index)
    old = [name for name, sha in expected.items() if now.get(name) and now[name] != sha]
    if old:
        reasons.append(f"serves an old {' and '.join(old)} certificate")
    return reasons

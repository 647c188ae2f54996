"""A CA rotation's files, phase by phase, and its state under `certs/rotation/`.

Replacing the CA in one step splits the cluster: a node on the new CA refuses its peers'
old-CA routes. So the files change in three phases, and the nodes reload after each:

1. trust both: a new CA is made (`certs/rotation/new-ca.crt|key`) and added to the trust
   bundle every node and client reads;
2. reissue: the new CA becomes `certs/ca.crt|key` (the old one is kept as
   `certs/rotation/old-ca.crt|key` and stays in the bundle), and every leaf (route, server,
   each client identity, Courtyard's own) is issued again from it;
3. trust only the new CA: the old one leaves the bundle; the rotation's folder is removed.

`state.json` records the last phase whose nodes all reloaded, so an interrupted rotation
resumes where it stopped. Each phase's file step can run again without harm.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from courtyard.artefacts import certs, pki, secret_folders
from courtyard.artefacts.certs import CertResult
from courtyard.artefacts.files import write_file
from courtyard.core.errors import CourtyardError
from courtyard.project.layout import Layout
from courtyard.project.model import Spec
from courtyard.project.naming import ClusterNames

PHASES = (
    "trust the old and the new CA",
    "reissue every certificate from the new CA",
    "trust only the new CA",
)


@dataclass
class RotationState:
    done: int = 0  # the last phase whose every node reloaded (0: none yet)
    started: str = ""
    old_ca: str = ""  # SHA-256 fingerprints, for --status
    new_ca: str = ""


def _state_file(layout: Layout) -> Path:
    return layout.rotation / "state.json"


def _new_ca(layout: Layout) -> tuple[Path, Path]:
    return layout.rotation / "new-ca.crt", layout.rotation / "new-ca.key"


def _old_ca(layout: Layout) -> tuple[Path, Path]:
    return layout.rotation / "old-ca.crt", layout.rotation / "old-ca.key"


def load_state(layout: Layout) -> RotationState | None:
    """The running rotation's state, or None when none runs."""
    path = _state_file(layout)
    if not path.is_file():
        return None
    try:
        return RotationState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        raise CourtyardError(
            f"{path} is damaged; restore it, or remove {layout.rotation} and start the "
            "rotation again (`invoke rotate-ca`)"
        ) from None


def save_state(layout: Layout, state: RotationState) -> None:
    write_file(_state_file(layout), json.dumps(vars(state), indent=1))


def begin(layout: Layout) -> RotationState:
    """The state of a rotation that starts now (nothing written yet)."""
    return RotationState(
        started=pki.utcnow().isoformat(timespec="seconds"),
        old_ca=pki.fingerprint(pki.load_cert(layout.ca_cert)),
    )


def trust_both(spec: Spec, layout: Layout, state: RotationState) -> None:
    """Phase 1's files: a new CA (made once), added to every trust bundle."""
    new_cert, new_key = _new_ca(layout)
    if not new_cert.is_file() or not new_key.is_file():
        subject = spec.tls.subject
        name = pki.Name(
            f"{subject.common_name} CA", subject.organization, subject.organizational_unit
        )
        cert, key = pki.create_ca(name, spec.tls.ca_validity_days)
        pki.write_pair(cert, key, new_cert, new_key)
    state.new_ca = pki.fingerprint(pki.load_cert(new_cert))
    save_state(layout, state)
    write_file(layout.also_trusted, new_cert.read_bytes())
    secret_folders.sync(layout)


def reissue(spec: Spec, names: ClusterNames, layout: Layout) -> list[CertResult]:
    """Phase 2's files: the new CA signs from now on, the old one stays trusted, and every
    leaf is issued again (each one's CA changed)."""
    new_cert, new_key = _new_ca(layout)
    old_cert, old_key = _old_ca(layout)
    if new_cert.is_file():  # not swapped yet: a rerun after the swap finds it moved
        if not old_cert.is_file():  # kept once, before anything is overwritten
            write_file(old_key, layout.ca_key.read_bytes(), private=True)
            write_file(old_cert, layout.ca_cert.read_bytes())
        write_file(layout.ca_key, new_key.read_bytes(), private=True)
        write_file(layout.ca_cert, new_cert.read_bytes())
        new_cert.unlink()
        new_key.unlink()
    write_file(layout.also_trusted, old_cert.read_bytes())
    return certs.ensure_certs(spec, names, layout)


def trust_new_only(layout: Layout) -> None:
    """Phase 3's files: the old CA leaves every trust bundle."""
    layout.also_trusted.unlink(missing_ok=True)
    secret_folders.sync(layout)


def finish(layout: Layout) -> None:
    """The rotation is over: its folder (state and the old CA) goes."""
    shutil.rmtree(layout.rotation, ignore_errors=True)
    secret_folders.sync(layout)

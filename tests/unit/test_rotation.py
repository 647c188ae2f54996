"""A CA rotation's files, phase by phase: what each node and client trusts, and what signs."""

from __future__ import annotations

import pytest

from courtyard.artefacts import pki, rotation, secret_folders
from courtyard.artefacts.certs import ensure_certs, leaf_plans
from courtyard.core.errors import CourtyardError


@pytest.fixture
def project(project_factory):
    p = project_factory()
    ensure_certs(p.spec, p.names, p.layout)
    return p


def bundle_cas(layout) -> list[str]:
    """Fingerprints of the CAs in the trust bundle every node mounts."""
    data = (layout.secrets / "ca" / "ca.crt").read_bytes()
    assert data == layout.ca_bundle.read_bytes()  # clients trust the same
    return [pki.fingerprint(c) for c in pki.x509.load_pem_x509_certificates(data)]


def leaves_issued_by(project, ca_file) -> bool:
    ca = pki.load_cert(ca_file)
    return all(
        pki.issued_by(pki.load_cert(plan.cert_path), ca)
        for plan in leaf_plans(project.spec, project.names, project.layout)
    )


def test_three_phases_move_trust_then_signing_then_drop_the_old_ca(project):
    spec, names, layout = project.spec, project.names, project.layout
    old = pki.fingerprint(pki.load_cert(layout.ca_cert))
    old_copy = layout.ca_cert.read_bytes()
    state = rotation.begin(layout)

    rotation.trust_both(spec, layout, state)
    assert bundle_cas(layout) == [old, state.new_ca]
    assert pki.fingerprint(pki.load_cert(layout.ca_cert)) == old  # the old CA still signs
    rotation.trust_both(spec, layout, state)  # a rerun makes no second new CA
    assert bundle_cas(layout) == [old, state.new_ca]

    rotation.reissue(spec, names, layout)
    assert pki.fingerprint(pki.load_cert(layout.ca_cert)) == state.new_ca
    assert bundle_cas(layout) == [state.new_ca, old]
    assert leaves_issued_by(project, layout.ca_cert)
    rotation.reissue(spec, names, layout)  # a rerun after the swap keeps the old CA kept
    assert bundle_cas(layout) == [state.new_ca, old]

    rotation.trust_new_only(layout)
    assert bundle_cas(layout) == [state.new_ca]
    rotation.finish(layout)
    assert not layout.rotation.exists()
    assert secret_folders.trust_bundle(layout) == layout.ca_cert.read_bytes() != old_copy


def test_state_survives_between_runs_and_a_damaged_one_is_one_sentence(project):
    layout = project.layout
    assert rotation.load_state(layout) is None
    state = rotation.begin(layout)
    rotation.trust_both(project.spec, layout, state)
    state.done = 1
    rotation.save_state(layout, state)
    assert rotation.load_state(layout) == state
    (layout.rotation / "state.json").write_text("{not json")
    with pytest.raises(CourtyardError, match="is damaged"):
        rotation.load_state(layout)

from __future__ import annotations

import datetime as dt
import json
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

from courtyard.artefacts import pki
from courtyard.artefacts.certs import (
    client_name,
    earliest_expiry,
    ensure_certs,
    expiring,
    issue_adhoc,
    show_certs,
)
from courtyard.artefacts.pki import Name, Usage
from courtyard.artefacts.tlscheck import serves
from courtyard.commands import certs as certs_cmd
from courtyard.core.errors import CourtyardError
from courtyard.project.sans import San, dns, parse_san_list, sans_of


@pytest.fixture
def project(project_factory):
    p = project_factory()
    ensure_certs(p.spec, p.names, p.layout)
    return p


def all_files(layout):
    return {p: p.read_bytes() for p in sorted(layout.certs.rglob("*")) if p.is_file()}


def handshake(cert_file, key_file, ca_file, hostname):
    """Raise like a client would when the pair is not served for hostname under ca_file."""
    if not serves(cert_file, key_file, ca_file, hostname):
        raise ssl.SSLCertVerificationError(hostname)


def test_layout_and_key_modes(project):
    layout = project.layout
    for path in [
        layout.ca_key,
        layout.key("route"),
        layout.key("server"),
        layout.client_key("dev"),
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [
        layout.ca_cert,
        layout.cert("route"),
        layout.cert("server"),
        layout.client_cert("dev"),
    ]:
        assert path.exists()


def test_exact_sans_and_usages(project):
    names, layout = project.names, project.layout
    route = pki.load_cert(layout.cert("route"))
    server = pki.load_cert(layout.cert("server"))
    client = pki.load_cert(layout.client_cert("dev"))
    assert sans_of(route) == set(names.route_sans)
    assert sans_of(server) == set(names.server_sans)
    assert pki.usages_of(route) == {EKU.SERVER_AUTH, EKU.CLIENT_AUTH}
    assert pki.usages_of(server) == {EKU.SERVER_AUTH}
    assert pki.usages_of(client) == {EKU.CLIENT_AUTH}
    assert client.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "dev"
    ca = pki.load_cert(layout.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    for cert in (route, server, client):
        assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        assert pki.issued_by(cert, ca)


def test_ssl_verifies_route_cert_for_every_pod_fqdn(project):
    layout, names = project.layout, project.names
    for i in range(names.replicas):
        for host in (names.pod_fqdn(i), names.pod_host(i)):
            assert serves(layout.cert("route"), layout.key("route"), layout.ca_cert, host), host


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "skunkwolf-nats",
        "skunkwolf-nats.default.svc.cluster.local",
        "nats.example.com",
    ],
)
def test_ssl_verifies_server_cert_for_client_names(project, host):
    layout = project.layout
    assert serves(layout.cert("server"), layout.key("server"), layout.ca_cert, host)


def test_ssl_rejects_wrong_host_and_foreign_ca(project, tmp_path):
    layout = project.layout
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(layout.cert("server"), layout.key("server"), layout.ca_cert, "evil.example")
    other_ca, other_key = pki.create_ca(Name("Other CA"), 100)
    cert, key = pki.issue_leaf(other_ca, other_key, Name("x"), [dns("localhost")], Usage.SERVER, 30)
    pki.write_pair(cert, key, tmp_path / "foreign.crt", tmp_path / "foreign.key")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tmp_path / "foreign.crt", tmp_path / "foreign.key", layout.ca_cert, "localhost")


def test_second_run_rewrites_nothing(project):
    before = {p: (b, p.stat().st_mtime_ns) for p, b in all_files(project.layout).items()}
    results = ensure_certs(project.spec, project.names, project.layout)
    assert {r.action for r in results} == {"kept"}
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}
    assert after == before


def test_changed_extra_san_reissues_server_only(project, project_factory):
    before = all_files(project.layout)
    changed = project_factory({"tls": {"extra_sans": ["DNS:lb.skunkwolf.io"]}})
    results = {r.label: r for r in ensure_certs(changed.spec, changed.names, changed.layout)}
    assert results["server"].action == "reissued" and results["server"].reason == "SANs changed"
    assert {k for k, r in results.items() if r.action != "kept"} == {"server"}
    after = all_files(project.layout)
    assert {p for p in before if before[p] != after[p]} == {
        project.layout.cert("server"),
        project.layout.key("server"),
    }
    assert dns("lb.skunkwolf.io") in sans_of(pki.load_cert(project.layout.cert("server")))


def test_expiring_and_foreign_ca_and_force_reissue(project):
    spec, names, layout = project.spec, project.names, project.layout
    later = pki.utcnow() + dt.timedelta(days=spec.tls.cert_validity_days - 10)
    results = {r.label: r for r in ensure_certs(spec, names, layout, now=later)}
    assert results["route"].reason == "expires within 30 days"
    assert results["CA"].action == "kept"
    layout.ca_cert.unlink()
    layout.ca_key.unlink()  # starting over with a new CA on purpose
    results = {r.label: r for r in ensure_certs(spec, names, layout)}
    assert results["CA"].action == "created"
    assert {results[k].reason for k in ("route", "server", "client dev")} == {"CA changed"}
    results = ensure_certs(spec, names, layout, force=True)
    assert [r.action for r in results] == ["kept"] + ["reissued"] * (len(results) - 1)


def test_adhoc_cert_with_armory_options(project):
    sans = parse_san_list("DNS:a.example, DNS:b.example, IP:10.0.0.1")
    options = {
        "common_name": "NATS Cluster",
        "base": "nats-cluster",
        "organizational_unit": "NATS",
        "sans": sans,
        "usage": Usage.ROUTE,
    }
    result = issue_adhoc(project.spec, project.layout, **options)
    assert result.action == "created"
    cert = pki.load_cert(project.layout.cert("nats-cluster"))
    assert sans_of(cert) == {dns("a.example"), dns("b.example"), San("IP", "10.0.0.1")}
    assert pki.usages_of(cert) == {EKU.SERVER_AUTH, EKU.CLIENT_AUTH}
    assert "OU=NATS" in cert.subject.rfc4514_string()
    again = issue_adhoc(project.spec, project.layout, **options)  # the same call again
    assert again.action == "kept"
    with pytest.raises(CourtyardError, match="not allowed"):
        issue_adhoc(
            project.spec,
            project.layout,
            common_name="x",
            base="ca",
            organizational_unit=None,
            sans=[],
            usage=Usage.SERVER,
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("DNS:a,, DNS:b", "empty entry"),
        ("a.example", "must start with DNS: or IP:"),
        ("DNS:a, IP:1.2.3", "not a valid IP address"),
        ("DNS:-bad-.example", "not a valid DNS name"),
        ("", "empty entry"),
    ],
)
def test_san_list_is_parsed_strictly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_san_list(text)


@pytest.mark.parametrize("lost", ["ca_key", "ca_cert"])
def test_half_a_ca_is_refused_and_nothing_is_reissued(project, lost):
    layout = project.layout
    getattr(layout, lost).unlink()
    before = all_files(layout)
    with pytest.raises(CourtyardError, match=r"is missing but .* is there; restore it") as err:
        ensure_certs(project.spec, project.names, layout)
    assert "start over with a new CA on purpose" in str(err.value)
    assert all_files(layout) == before


def test_loosened_key_modes_are_repaired_and_reported(project):
    layout = project.layout
    layout.ca_key.chmod(0o644)
    layout.client_key("dev").chmod(0o640)
    results = ensure_certs(project.spec, project.names, layout)
    repaired = {r.path: r.reason for r in results if r.action == "mode repaired"}
    assert repaired == {
        layout.ca_key: "was 0644, now 0600",
        layout.client_key("dev"): "was 0640, now 0600",
    }
    assert stat.S_IMODE(layout.ca_key.stat().st_mode) == 0o600
    assert not [r for r in ensure_certs(project.spec, project.names, layout) if r.action != "kept"]


def test_a_truncated_certificate_is_reported_not_raised(project):
    layout = project.layout
    layout.cert("server").write_bytes(layout.cert("server").read_bytes()[:100])
    assert earliest_expiry([layout.cert("route"), layout.cert("server")]) == "unreadable"
    shown = {label: info for label, _, info in show_certs(project.spec, project.names, layout)}
    assert "unreadable" in shown["server"]["error"]
    reissued = ensure_certs(project.spec, project.names, layout)
    assert [(r.label, r.reason) for r in reissued if r.action != "kept"] == [
        ("server", "unreadable")
    ]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"common_name": "N" * 100}, ["common name (-c) has 100 characters", "at most 64"]),
        ({"organizational_unit": "U" * 65}, ["unit (-u) has 65 characters"]),
        ({"base": "o" * 300}, ["is not allowed", "at most 64 characters"]),
        ({"base": "../escape"}, ["is not allowed"]),
        ({"base": "route"}, ["other than ca, ca-bundle, route, server"]),
        ({"base": "ca-bundle"}, ["'ca-bundle' is not allowed"]),
        # A subject an identity logs in with: a second, unlisted login for it.
        ({"common_name": "ops", "usage": Usage.CLIENT}, ["login of identity ops", "second login"]),
        ({"common_name": " Courtyard ", "usage": Usage.CLIENT}, ["login of identity courtyard"]),
        (
            {"common_name": "ORDERS", "usage": Usage.ROUTE},
            ["login of identity orders", "tls.clients"],
        ),
        ({"common_name": "dev"}, ["login of identity dev", "run `invoke certs` instead"]),
    ],
)
def test_adhoc_options_out_of_bounds_are_one_sentence(project, options, words):
    before = all_files(project.layout)
    arguments = {
        "common_name": "NATS",
        "base": "extra",
        "organizational_unit": None,
        "sans": [],
        "usage": Usage.SERVER,
    }
    with pytest.raises(CourtyardError) as err:
        issue_adhoc(project.spec, project.layout, **{**arguments, **options})
    assert len(str(err.value)) < 300
    for word in words:
        assert word in str(err.value)
    assert all_files(project.layout) == before


def test_expiry_in_sight_names_each_certificate_and_what_renews_it(project):
    spec, names, layout = project.spec, project.names, project.layout
    assert expiring(spec, names, layout) == []
    soon = pki.utcnow() + dt.timedelta(days=spec.tls.cert_validity_days - 12)
    found = {item.label: item for item in expiring(spec, names, layout, now=soon)}
    assert found["route"].renew == "invoke up" and found["route"].days_left in (10, 11)
    assert "CA" not in found
    late = pki.utcnow() + dt.timedelta(days=spec.tls.ca_validity_days - 5)
    ca = next(i for i in expiring(spec, names, layout, now=late) if i.label == "CA")
    assert ca.renew == "invoke rotate-ca"
    # A CA near its end is kept: a new one in one step would split the running cluster.
    before = layout.ca_cert.read_bytes()
    results = {r.label: r for r in ensure_certs(spec, names, layout, now=late)}
    assert results["CA"].action == "kept" and layout.ca_cert.read_bytes() == before


def test_certs_show_lists_every_client_certificate_the_ca_signed_and_who_it_logs_in_as(
    project, capsys
):
    layout, spec = project.layout, project.spec
    issue_adhoc(
        spec, layout, common_name="reporting", base="reporting", organizational_unit=None,
        sans=[], usage=Usage.CLIENT,
    )  # fmt: skip
    ca_cert, ca_key = pki.load_cert(layout.ca_cert), pki.load_key(layout.ca_key)
    # A clone of ops made before `invoke cert` refused one, and a removed identity's leaf.
    for name, path in (("ops", layout.cert("opsclone")), ("gone", layout.client_cert("gone"))):
        cert, key = pki.issue_leaf(ca_cert, ca_key, client_name(spec, name), [], Usage.CLIENT, 30)
        pki.write_pair(cert, key, path, path.with_suffix(".key"))
    certs_cmd.show_certs(project, as_json=True)
    shown = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert shown["ad-hoc opsclone"]["rights"].startswith("logs in as ops, a second login")
    assert shown["ad-hoc reporting"]["rights"].startswith("none: no identity of the spec")
    assert shown["client gone (not in the spec)"]["rights"].startswith("none")
    assert "rights" not in shown["route"]
    assert {f"client {name}" for name in (*spec.tls.client_names, "courtyard")} <= set(shown)

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from courtyard.core.errors import SpecError
from courtyard.project.load import load_spec, parse_spec
from courtyard.project.model import ClientIdentity
from courtyard.project.sizes import kubernetes_quantity, parse_size
from tests.helpers import REPO_SPEC, base_spec, deep_update, write_spec


def parse(changes: dict) -> object:
    return parse_spec(deep_update(base_spec(), changes), Path("/p/config/courtyard.yaml"))


def test_repo_spec_has_the_documented_defaults():
    spec = load_spec(REPO_SPEC)
    assert (spec.release, spec.namespace, spec.cluster_domain) == (
        "skunkwolf-nats",
        "default",
        "cluster.local",
    )
    assert spec.replicas == 3
    assert (spec.ports.client, spec.ports.cluster, spec.ports.monitor) == (4222, 6222, 8222)
    assert spec.tls.clients == (
        ClientIdentity("dev"),
        ClientIdentity(
            "orders",
            restricted=True,
            publish=("orders.>", "payments.charge"),
            subscribe=("orders.>", "payments.settled.>"),
            streams=("ORDERS",),
            buckets=("orders-config",),
        ),
        ClientIdentity(
            "payments",
            restricted=True,
            publish=("payments.>",),
            subscribe=("payments.>", "orders.created.>"),
            streams=("PAYMENTS",),
        ),
        ClientIdentity("ops", system=True),
    )
    assert spec.warnings == ()
    assert spec.root == REPO_SPEC.parent.parent


def test_a_spec_with_only_a_release_takes_every_other_default(tmp_path):
    (tmp_path / "c.yaml").write_text("release: skunkwolf-nats\n")
    spec = load_spec(tmp_path / "c.yaml")
    assert spec.release == "skunkwolf-nats" and spec.root == tmp_path and spec.replicas == 3


LEVELS = "abcdefghi"
BILLION_LAUGHS = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"{x}: &{x} [{', '.join([f'*{p}'] * 9)}]\n" for p, x in itertools.pairwise(LEVELS))
    + "release: *i\n"
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["is empty", "release"]),
        ("# nothing but a comment\n", ["is empty"]),
        ("release: a\nreplicas: 3\nrelease: b\n", ["'release' twice (line 3)", "keep one"]),
        (BILLION_LAUGHS, ["more than 10000 values", "aliases"]),
    ],
)
def test_untrusted_yaml_is_one_sentence(tmp_path, text, words):
    spec = tmp_path / "c.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_non_utf8_spec_is_one_sentence(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_bytes("release: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(spec)


def test_long_values_are_cut_in_messages():
    with pytest.raises(SpecError) as err:
        parse({"release": "x" * 5000})
    assert len(str(err.value)) < 300 and "..." in str(err.value)


def test_env_var_chooses_another_spec(tmp_path, monkeypatch):
    other = tmp_path / "other.yaml"
    other.write_text("release: other-nats\n")
    monkeypatch.setenv("COURTYARD_SPEC", str(other))
    assert load_spec().release == "other-nats"


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"relase": "x"}, ["unknown key relase"]),
        ({"jetstream": {"memstore": "1Gi"}}, ["unknown key jetstream.memstore"]),
        ({"release": "Skunk_Wolf"}, ["release", "'Skunk_Wolf'", "DNS-1123"]),
        ({"namespace": "-bad"}, ["namespace", "'-bad'"]),
        ({"replicas": 0}, ["replicas", "0", "between 1 and 9"]),
        ({"replicas": 1000}, ["replicas", "1000", "between 1 and 9"]),
        ({"jetstream": {"file_store": "99999999999999999999Ti"}}, ["file_store", "8Ei"]),
        ({"tls": {"subject": {"common_name": "N" * 58}}}, ["common_name", "57 characters"]),
        ({"tls": {"subject": {"organization": "O" * 65}}}, ["organization", "64 characters"]),
        (
            {"tls": {"subject": {"organizational_unit": "Platform,CN=ops"}}},
            ["organizational_unit", "',' '='", "no identity could log in"],
        ),
        ({"tls": {"subject": {"organization": "A+B"}}}, ["organization", "'+'"]),
        ({"tls": {"subject": {"common_name": "#nats"}}}, ["common_name", "'#'"]),
        ({"tls": {"subject": {"organization": 'Say "hi"; <x>'}}}, ["'\"' ';' '<' '>'"]),
        ({"tls": {"subject": {"organizational_unit": "a\\b"}}}, ["organizational_unit", "'\\\\'"]),
        ({"tls": {"ca_validity_days": 99999999}}, ["ca_validity_days", "a century"]),
        ({"tls": {"extra_sans": ["DNS:" + "a" * 300]}}, ["tls.extra_sans", "253 characters"]),
        ({"image": "i" * 300}, ["image", "253 characters"]),
        ({"image": "nats/../../info"}, ["image", "is not an image reference"]),
        ({"image": "NATS:latest"}, ["image", "is not an image reference"]),
        ({"replicas": "three"}, ["replicas", "'three'", "whole number"]),
        ({"jetstream": {"file_store": "1 Gigabyte"}}, ["jetstream.file_store", "1 Gigabyte"]),
        ({"jetstream": {"memory_store": "12XB"}}, ["jetstream.memory_store", "12XB"]),
        ({"tls": {"extra_sans": ["nats.example.com"]}}, ["tls.extra_sans", "DNS: or IP:"]),
        ({"tls": {"extra_sans": ["IP:300.1.1.1"]}}, ["tls.extra_sans", "IP:300.1.1.1"]),
        ({"tls": {"extra_sans": ["DNS:bad..name"]}}, ["tls.extra_sans", "bad..name"]),
        ({"tls": {"extra_sans": ["URI:spiffe://x"]}}, ["tls.extra_sans", "URI:spiffe://x"]),
        ({"ports": {"client": 70000}}, ["ports.client", "70000", "between 1 and 65535"]),
        ({"ports": {"monitor": 4222}}, ["ports.monitor", "4222", "collides with ports.client"]),
        ({"host_ports": {"monitor": 4223}}, ["host_ports.monitor", "4223", "overlaps"]),
        ({"host_ports": {"client": 65534}}, ["host_ports.client", "65534"]),
        ({"tls": {"clients": []}}, ["tls.clients", "at least one"]),
        ({"tls": {"clients": "dev"}}, ["tls.clients", "at least one"]),
        ({"tls": {"clients": ["dev", "dev"]}}, ["tls.clients", "twice"]),
        ({"tls": {"clients": ["dev", {"name": "dev"}]}}, ["tls.clients", "'dev'", "twice"]),
        ({"tls": {"clients": ["courtyard"]}}, ["tls.clients", "Courtyard's own identity"]),
        ({"tls": {"clients": [{"publish": ["a"]}]}}, ["tls.clients", "None", "DNS-1123"]),
        ({"tls": {"clients": [7]}}, ["tls.clients", "7", "a name or a mapping"]),
        (
            {"tls": {"clients": [{"name": "orders", "publsh": ["a"]}]}},
            ["unknown key tls.clients[].publsh", "publish"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "publish": ["orders..created"]}]}},
            ["tls.clients[orders].publish", "'orders..created'", "empty token"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "subscribe": ["orders.>.x"]}]}},
            ["tls.clients[orders].subscribe", "'>' may only be the last token"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "subscribe": ["orders.cre*"]}]}},
            ["tls.clients[orders].subscribe", "wildcards stand alone"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "streams": ["ORD.ERS"]}]}},
            ["tls.clients[orders].streams", "'ORD.ERS'", "letters, digits"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "buckets": "orders-config"}]}},
            ["tls.clients[orders].buckets", "list of strings"],
        ),
        (
            {"tls": {"clients": [{"name": "orders", "streams": ["A", "A"]}]}},
            ["tls.clients[orders].streams", "twice"],
        ),
        (
            {"tls": {"clients": [{"name": "ops", "system": True, "publish": ["orders.>"]}]}},
            ["tls.clients[ops].publish", "system identity", "drop the list or `system: true`"],
        ),
        (
            {"tls": {"clients": [{"name": "ops", "system": "yes"}]}},
            ["tls.clients[ops].system", "'yes'", "true or false"],
        ),
        (
            {"tls": {"clients": ["ops", {"name": "ops", "system": True}]}},
            ["tls.clients", "'ops'", "twice"],
        ),
        ({"routes": {"use_fqdn": "yes"}}, ["routes.use_fqdn", "true or false"]),
        ({"helm": {"layout": "v0"}}, ["helm.layout", "'v0'"]),
        (
            {"helm": {"layout": "legacy"}, "ports": {"monitor": 9222}},
            ["ports.monitor = 9222", "the 0.x chart always uses 8222", "helm.layout: current"],
        ),
        (
            {"helm": {"layout": "legacy"}, "ports": {"cluster": 7222}},
            ["ports.cluster = 7222", "always uses 6222"],
        ),
        ({"tls": {"cert_validity_days": 10}}, ["tls.cert_validity_days", "31 days"]),
    ],
)
def test_bad_input_names_field_and_value(changes, names):
    with pytest.raises(SpecError) as err:
        parse(changes)
    message = str(err.value)
    assert "\n" not in message
    for part in names:
        assert part in message


def test_host_ports_in_the_ephemeral_range_warn_but_load():
    [warning] = parse({"host_ports": {"client": 40000, "monitor": 14222}}).warnings
    assert warning.startswith("host_ports.client = 40000 reaches into Linux's ephemeral")
    assert parse({"host_ports": {"client": 32766, "monitor": 14222}}).warnings != ()
    assert parse({"host_ports": {"client": 32765, "monitor": 14222}}).warnings == ()


def test_fewer_than_three_or_even_replicas_warn_but_load():
    assert "survive" in parse({"replicas": 1}).warnings[0]
    assert "even" in parse({"replicas": 4}).warnings[0]
    assert parse({"replicas": 5}).warnings == ()


def test_missing_and_malformed_files_give_one_sentence(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("release: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256Mi", 256 * 2**20),
        ("1Gi", 2**30),
        ("512MB", 512 * 2**20),
        ("1G", 10**9),
        ("10k", 10_000),
        ("2TiB", 2 * 2**40),
        ("1Ei", 2**60),
        ("7Ei", 7 * 2**60),
        (1024, 1024),
    ],
)
def test_sizes_follow_nats_server_rules(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    # nats-server refuses each: a space before the unit, fullwidth and Arabic-Indic digits
    ["256 Mi", "\uff12\uff15\uff16Mi", "\u0661\u0662Mi", "9" * 5000, "1Zi"],
)
def test_sizes_nats_server_would_refuse_are_no_sizes(text):
    with pytest.raises(ValueError, match=r"is not a size|is too large"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "accepted"), [("7Ei", True), ("8Ei", False), ("9223372036854775807", True)]
)
def test_store_sizes_go_up_to_what_nats_server_holds(tmp_path, size, accepted):
    path = write_spec(tmp_path, {"jetstream": {"file_store": size}})
    if accepted:
        assert load_spec(path).jetstream.file_store == size
    else:
        with pytest.raises(SpecError, match="more than nats-server can hold"):
            load_spec(path)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("release: a\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nests more than 64 levels deep"),
        ("replicas: " + "9" * 5000 + "\n", r"holds a number of 5000 digits \(line 1\)"),
        ("jetstream:\n  file_store: " + "9" * 5000 + "\n", "holds a number of 5000 digits"),
    ],
)
def test_hostile_yaml_is_one_sentence(tmp_path, text, sentence):
    path = tmp_path / "courtyard.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=sentence) as err:
        load_spec(path)
    assert "\n" not in str(err.value)


def test_a_symlink_loop_as_the_spec_is_one_sentence(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    with pytest.raises(SpecError, match=r"cannot be resolved .*a symlink loop"):
        load_spec(tmp_path / "a.yaml")


def test_kubernetes_quantity_keeps_exact_bytes():
    assert kubernetes_quantity(parse_size("512MB")) == "512Mi"
    assert kubernetes_quantity(parse_size("1G")) == "1000000000"
    assert kubernetes_quantity(2**30) == "1Gi"

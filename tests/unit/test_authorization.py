"""Who may do what: the users, accounts and permissions every node and the chart enforce."""

from __future__ import annotations

import base64
import json
import os

import pytest

from courtyard.artefacts import authorization, natsconf, nodeconf
from courtyard.artefacts.certs import client_name, ensure_certs
from courtyard.artefacts.client_access import env_vars
from courtyard.artefacts.config_check import check_configs
from courtyard.helm import chart as helm_chart
from courtyard.helm import values as helm_values
from courtyard.helm.export import secret_manifests
from courtyard.project.load import load_spec
from courtyard.project.loaded import load_project
from courtyard.project.model import ClientIdentity
from courtyard.project.subjects import example_subject, subject_matches, subject_problem
from tests.helpers import LEGACY_CHART, REPO_SPEC, invoke, real_chart, write_spec

# The default spec's example restricted identity (test_spec pins what it lists).
ORDERS = next(c for c in load_spec(REPO_SPEC).tls.clients if c.name == "orders")


def test_a_restricted_identity_may_use_exactly_its_subjects_streams_and_buckets():
    rights = authorization.permissions(ORDERS)
    publish, subscribe = rights["publish"]["allow"], rights["subscribe"]["allow"]
    assert publish[0] == "orders.>"
    assert "$JS.API.STREAM.CREATE.ORDERS" in publish
    assert "$JS.API.CONSUMER.MSG.NEXT.ORDERS.*" in publish
    assert "$JS.API.STREAM.CREATE.KV_orders-config" in publish
    assert "$KV.orders-config.>" in publish
    assert not [s for s in publish if s.startswith("$SYS") or s == "$JS.API.>"]
    assert not [s for s in publish if "STREAM.NAMES" in s or "STREAM.LIST" in s]
    assert subscribe == ["orders.>", "_INBOX_orders.>"]
    assert rights["allow_responses"] is True


def test_an_identity_that_lists_nothing_may_publish_nothing():
    rights = authorization.permissions(ClientIdentity("idle", restricted=True))
    assert rights["publish"] == {"deny": [">"]}
    assert rights["subscribe"] == {"allow": ["_INBOX_idle.>"]}


def test_admins_and_courtyards_own_identity_have_full_access(project_factory):
    project = project_factory()
    config = authorization.server_config(project.spec)
    users = {u["user"]: u for u in config["authorization"]["users"]}
    dn = {
        name: client_name(project.spec, name).to_x509().rfc4514_string()
        for name in ("dev", "orders", "courtyard")
    }
    assert set(users) == set(dn.values())
    assert "permissions" not in users[dn["dev"]]
    assert "permissions" not in users[dn["courtyard"]]
    assert "permissions" in users[dn["orders"]]
    # The users stay in the global account (streams made before there were users stay
    # theirs); the system account is the server's own, and only the system identity (ops)
    # logs in there.
    assert set(config) == {"authorization", "accounts", "system_account"}
    ops = client_name(project.spec, "ops").to_x509().rfc4514_string()
    assert config["accounts"] == {"$SYS": {"users": [{"user": ops}]}}
    assert ops not in users
    assert config["system_account"] == "$SYS"


def test_without_a_system_identity_nobody_logs_in_to_the_system_account(project_factory):
    project = project_factory({"tls": {"clients": ["dev"]}})
    assert authorization.server_config(project.spec)["accounts"] == {"$SYS": {}}


def test_the_node_config_with_users_passes_the_real_servers_check(project_factory):
    project = project_factory(
        {
            "tls": {
                "clients": ["dev", {"name": "billing", "publish": ["billing.*"], "buckets": ["b"]}]
            }
        }
    )
    ensure_certs(project.spec, project.names, project.layout)
    nodeconf.write_configs(project.spec, project.names, project.layout)
    text = project.layout.node_config(project.names.pod(0)).read_text()
    assert "verify_and_map: true" in text and 'system_account: "$SYS"' in text
    check_configs(project.names, project.layout)  # raises when nats-server -t rejects one


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("orders.>", "orders.created.1", True),
        ("orders.>", "orders", False),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders.created.1", False),
        ("orders.created", "orders.created", True),
        (">", "anything.at.all", True),
    ],
)
def test_subject_patterns_match_as_the_server_matches(pattern, subject, matches):
    assert subject_matches(pattern, subject) is matches
    assert subject_problem(pattern) is None


def test_an_example_subject_fills_each_wildcard():
    assert example_subject("orders.*.>", "smoke") == "orders.smoke.smoke"


def test_a_restricted_identity_gets_its_inbox_prefix_in_env_and_context(tmp_path):
    spec = write_spec(tmp_path)
    project = load_project(spec)
    ensure_certs(project.spec, project.names, project.layout)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = invoke("env", "--spec", str(spec), "--identity", "orders", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "export NATS_INBOX_PREFIX=_INBOX_orders" in proc.stdout
    context = tmp_path / "xdg" / "nats" / "context" / "courtyard-skunkwolf-nats-orders.json"
    saved = json.loads(context.read_text())
    assert saved["inbox_prefix"] == "_INBOX_orders"
    assert saved["cert"].endswith("clients/orders.crt")
    default = tmp_path / "xdg" / "nats" / "context" / "courtyard-skunkwolf-nats.json"
    assert not default.exists(), "another identity's context is not overwritten"


def test_an_admin_needs_no_inbox_prefix(project_factory):
    assert "NATS_INBOX_PREFIX" not in env_vars(project_factory(), "dev")


def test_certs_show_lists_each_identitys_rights(tmp_path):
    spec = write_spec(tmp_path)
    assert invoke("certs", "--spec", str(spec)).returncode == 0
    proc = invoke("certs", "--spec", str(spec), "--show", "--json")
    shown = {entry["name"]: entry for entry in json.loads(proc.stdout)}
    assert shown["client dev"]["rights"].startswith("full access")
    assert shown["client orders"]["rights"] == (
        "publish orders.>; subscribe orders.>; streams ORDERS; buckets orders-config; "
        "replies on _INBOX_orders.>"
    )
    assert "Courtyard's own" in shown["client courtyard"]["rights"]
    assert shown["client ops"]["rights"].startswith("the system account: $SYS server requests")
    assert "rights" not in shown["route"]


def test_the_legacy_chart_renders_the_same_users_from_auth_basic(project_factory):
    project = project_factory({"helm": {"layout": "legacy"}})
    chart = helm_chart.load(real_chart(LEGACY_CHART))
    conf = helm_chart.nats_conf_text(
        helm_chart.render(chart, helm_values.values(project), project.spec.release, "default")
    )
    assert "verify_and_map: true" in conf
    # No system_account line in the chart's own blocks (naming it undeclared stops the
    # server; auth.basic.accounts would empty the users): the system account and its users
    # come from an included config, held in a Secret of the export.
    assert "system_account" not in conf and "accounts:" not in conf
    assert "include ./system-account/system-account.conf" in conf
    ensure_certs(project.spec, project.names, project.layout)
    secret = next(
        s for s in secret_manifests(project) if s["metadata"]["name"].endswith("-system-account")
    )
    included = natsconf.parse_conf(base64.b64decode(secret["data"]["system-account.conf"]).decode())
    ops = client_name(project.spec, "ops").to_x509().rfc4514_string()
    assert included == {"accounts": {"$SYS": {"users": [{"user": ops}]}}, "system_account": "$SYS"}
    rendered_users = [
        json.loads(line.strip().rstrip(","))
        for line in conf.split("users: [", 1)[1].split("]\n", 1)[0].splitlines()
        if line.strip().startswith("{")
    ]
    assert rendered_users == authorization.users(project.spec)

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
from courtyard.project.limits import account_limits
from courtyard.project.load import load_spec
from courtyard.project.loaded import load_project
from courtyard.project.model import ClientIdentity
from courtyard.project.subjects import (
    covers,
    example_subject,
    subject_matches,
    subject_problem,
    widest,
)
from tests.helpers import LEGACY_CHART, REPO_SPEC, invoke, real_chart, write_spec

MIB = 1024 * 1024

# The default spec's example restricted identity (test_spec pins what it lists).
ORDERS = next(c for c in load_spec(REPO_SPEC).tls.clients if c.name == "orders")


def test_a_restricted_identity_may_use_exactly_its_subjects_streams_and_buckets():
    rights = authorization.permissions(ORDERS)
    publish, subscribe = rights["publish"]["allow"], rights["subscribe"]["allow"]
    # nats-server checks a publish after the account's mappings: the team's publish list is
    # allowed as the bridge its account maps it onto, and nothing else leaves the account.
    assert publish[:2] == ["_CY.out.orders.>", "_CY.out.payments.charge"]
    assert "orders.>" not in publish
    assert "$JS.API.STREAM.CREATE.ORDERS" in publish
    assert "$JS.API.CONSUMER.MSG.NEXT.ORDERS.*" in publish
    assert "$JS.API.STREAM.CREATE.KV_orders-config" in publish
    assert "$KV.orders-config.>" in publish
    assert not [s for s in publish if s.startswith("$SYS") or s == "$JS.API.>"]
    assert not [s for s in publish if "STREAM.NAMES" in s or "STREAM.LIST" in s]
    assert subscribe == ["orders.>", "payments.settled.>", "_INBOX_orders.>"]
    assert rights["allow_responses"] is True


def test_an_identity_that_lists_nothing_may_publish_nothing():
    rights = authorization.permissions(ClientIdentity("idle", restricted=True))
    assert rights["publish"] == {"deny": [">"]}
    assert rights["subscribe"] == {"allow": ["_INBOX_idle.>"]}


def test_admins_and_courtyard_share_an_account_and_each_team_has_its_own(project_factory):
    project = project_factory()
    config = authorization.server_config(project.spec)
    dn = {
        name: client_name(project.spec, name).to_x509().rfc4514_string()
        for name in ("dev", "orders", "courtyard", "ops")
    }
    # No user in the global account: it can neither export nor import.
    assert set(config) == {"accounts", "system_account"}
    accounts = config["accounts"]
    assert set(accounts) == {"APP", "orders", "payments", "$SYS"}
    shared = {u["user"]: u for u in accounts["APP"]["users"]}
    assert set(shared) == {dn["dev"], dn["courtyard"]}
    assert not [u for u in shared.values() if "permissions" in u]
    (team_user,) = accounts["orders"]["users"]
    assert team_user["user"] == dn["orders"] and "permissions" in team_user
    # JetStream in each, so a team's streams live (and stay) in the team's account, each
    # with an equal share (whole MiB) of the stores, 256Mi memory and 1Gi file, among APP,
    # orders and payments, and the team's counts.
    assert accounts["APP"]["jetstream"] == {"max_memory": 85 * MIB, "max_file": 341 * MIB}
    assert accounts["orders"]["jetstream"] == {
        "max_memory": 85 * MIB,
        "max_file": 341 * MIB,
        "max_streams": 64,
        "max_consumers": 512,
    }
    assert accounts["orders"]["limits"] == {"max_connections": 128}
    assert accounts["$SYS"] == {"users": [{"user": dn["ops"]}]}
    assert config["system_account"] == "$SYS"


def test_a_teams_only_bridges_are_its_publish_and_subscribe_lists(project_factory):
    project = project_factory(
        {
            "tls": {
                "clients": [
                    "dev",
                    {"name": "orders", "publish": ["orders.>", "orders.created"]},
                    {"name": "billing", "publish": ["billing.*"], "subscribe": ["orders.>"]},
                ]
            }
        }
    )
    accounts = authorization.server_config(project.spec)["accounts"]
    # A pattern another one covers is no second bridge (a message would cross twice).
    # Up: the team's publish is mapped onto the one subject its service import listens on.
    assert accounts["orders"]["mappings"] == {"orders.>": "_CY.out.orders.>"}
    assert accounts["orders"]["imports"] == [
        {
            "service": {"account": "APP", "subject": "_CY.in.orders.orders.>"},
            "to": "_CY.out.orders.>",
        }
    ]
    assert "exports" not in accounts["orders"]
    # Down: APP's service import of each subscribe pattern, mapped back in the team's account;
    # a `*` is carried by reference, as nats-server's mappings want it.
    assert accounts["billing"]["mappings"] == {
        "billing.*": "_CY.out.billing.{{wildcard(1)}}",
        "_CY.down.orders.>": "orders.>",
    }
    assert accounts["billing"]["exports"] == [{"service": "_CY.down.orders.>", "accounts": ["APP"]}]
    # Each export names exactly the team it serves: no account takes what it did not list.
    assert accounts["APP"]["exports"] == [
        {"service": "_CY.in.orders.orders.>", "accounts": ["orders"]},
        {"service": "_CY.in.billing.billing.*", "accounts": ["billing"]},
    ]
    assert accounts["APP"]["mappings"] == {
        "_CY.in.orders.orders.>": "orders.>",
        "_CY.in.billing.billing.*": "billing.{{wildcard(1)}}",
    }
    assert accounts["APP"]["imports"] == [
        {"service": {"account": "billing", "subject": "_CY.down.orders.>"}, "to": "orders.>"}
    ]


@pytest.mark.parametrize(
    ("patterns", "shared"),
    [
        (["orders.*.x", "orders.a.*"], "orders.a.x"),
        (["orders.a.>", "orders.*.b"], "orders.a.b"),
    ],
)
def test_a_team_list_with_overlapping_patterns_is_one_sentence(tmp_path, patterns, shared):
    spec = write_spec(
        tmp_path, {"tls": {"clients": ["dev", {"name": "orders", "subscribe": patterns}]}}
    )
    proc = invoke("configs", "--spec", str(spec))
    assert proc.returncode == 1
    assert f"({shared} matches both)" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_without_teams_the_users_stay_in_the_global_account(project_factory):
    project = project_factory({"tls": {"clients": ["dev", {"name": "ops", "system": True}]}})
    config = authorization.server_config(project.spec)
    users = [u["user"] for u in config["authorization"]["users"]]
    assert users == [
        client_name(project.spec, name).to_x509().rfc4514_string() for name in ("dev", "courtyard")
    ]
    assert set(config["accounts"]) == {"$SYS"}


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        (">", "starts with a wildcard"),
        ("*.created", "starts with a wildcard"),
        ("$JS.API.>", "server subject"),
        ("$SYS.REQ.>", "server subject"),
        ("_INBOX.>", "server subject"),
        ("_R_.>", "server subject"),
        ("orders..x", "empty token"),
    ],
)
def test_a_team_list_that_would_carry_server_subjects_across_is_one_sentence(
    tmp_path, subject, words
):
    spec = write_spec(
        tmp_path, {"tls": {"clients": ["dev", {"name": "orders", "publish": [subject]}]}}
    )
    proc = invoke("configs", "--spec", str(spec))
    assert proc.returncode == 1
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "generated").exists()


@pytest.mark.parametrize(
    ("wide", "narrow", "covered"),
    [
        ("orders.>", "orders.created", True),
        ("orders.>", "orders.*.x", True),
        ("orders.*", "orders.>", False),
        ("orders.*", "orders.created", True),
        ("orders.created", "orders.*", False),
        ("orders.>", "orders", False),
        ("a.*.c", "a.b.c", True),
    ],
)
def test_one_pattern_covers_another_as_the_server_matches(wide, narrow, covered):
    assert covers(wide, narrow) is covered
    if covered:  # one import of the wider pattern, wherever it stands in the list
        assert widest([narrow, wide]) == widest([wide, narrow]) == [wide]


def test_the_same_pattern_twice_is_one_import():
    assert widest(["orders.*", "orders.*", "billing.>"]) == ["orders.*", "billing.>"]


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
        "its own account orders (JetStream inside it only; its publishes and requests cross "
        "to every identity through the shared account APP): publish orders.>, "
        "payments.charge; subscribe orders.>, payments.settled.>; streams ORDERS; buckets "
        "orders-config; replies on _INBOX_orders.>"
    )
    assert "Courtyard's own" in shown["client courtyard"]["rights"]
    assert shown["client ops"]["rights"].startswith("the system account: $SYS server requests")
    assert "rights" not in shown["route"]


def test_the_legacy_chart_renders_the_same_accounts_from_an_included_config(project_factory):
    project = project_factory({"helm": {"layout": "legacy"}})
    chart = helm_chart.load(real_chart(LEGACY_CHART))
    conf = helm_chart.nats_conf_text(
        helm_chart.render(chart, helm_values.values(project), project.spec.release, "default")
    )
    assert "verify_and_map: true" in conf
    # No users, accounts or system_account in the chart's own blocks (naming the system
    # account undeclared stops the server; auth.basic.accounts would empty the users): the
    # accounts and their users come from an included config, held in a Secret of the export.
    assert "system_account" not in conf and "accounts:" not in conf
    assert "authorization {" not in conf.split("cluster {", 1)[0]
    assert "include ./accounts-config/accounts-config.conf" in conf
    ensure_certs(project.spec, project.names, project.layout)
    secret = next(
        s for s in secret_manifests(project) if s["metadata"]["name"].endswith("-accounts-config")
    )
    included = natsconf.parse_conf(
        base64.b64decode(secret["data"]["accounts-config.conf"]).decode()
    )
    assert included == natsconf.parse_conf(
        nodeconf.render(authorization.accounts_config(project.spec), "")
    )
    assert set(included["accounts"]) == {"APP", "orders", "payments", "$SYS"}


def test_the_legacy_chart_renders_global_users_from_auth_basic_without_teams(project_factory):
    project = project_factory({"helm": {"layout": "legacy"}, "tls": {"clients": ["dev"]}})
    chart = helm_chart.load(real_chart(LEGACY_CHART))
    conf = helm_chart.nats_conf_text(
        helm_chart.render(chart, helm_values.values(project), project.spec.release, "default")
    )
    assert "include ./" not in conf
    rendered_users = [
        json.loads(line.strip().rstrip(","))
        for line in conf.split("users: [", 1)[1].split("]\n", 1)[0].splitlines()
        if line.strip().startswith("{")
    ]
    assert rendered_users == authorization.users(project.spec)


def test_a_teams_limits_are_its_own_and_the_rest_is_shared_equally(project_factory):
    project = project_factory(
        {
            "jetstream": {"memory_store": "300Mi", "file_store": "3Gi"},
            "tls": {
                "clients": [
                    "dev",
                    {
                        "name": "orders",
                        "publish": ["orders.>"],
                        "limits": {"file": "1Gi", "streams": 5, "connections": 3},
                    },
                    {"name": "payments", "publish": ["payments.>"]},
                ]
            },
        }
    )
    limits = account_limits(project.spec)
    # orders keeps its 1Gi; payments and APP share the other 2Gi; memory in three.
    assert (limits["orders"].file, limits["payments"].file, limits["APP"].file) == (
        1024 * MIB,
        1024 * MIB,
        1024 * MIB,
    )
    assert {limit.memory for limit in limits.values()} == {100 * MIB}
    assert (limits["orders"].streams, limits["orders"].connections) == (5, 3)
    assert (limits["payments"].streams, limits["payments"].connections) == (64, 128)
    # Together they fit one node's store: no account can take what another's promises.
    for kind in ("memory", "file"):
        total = sum(limit.store(kind) for limit in limits.values())
        assert total <= getattr(project.spec.jetstream, f"{kind}_store_bytes")


def test_a_spec_without_teams_sets_no_limits(project_factory):
    project = project_factory({"tls": {"clients": ["dev"]}})
    assert account_limits(project.spec) == {}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"tls": {"clients": ["dev", {"name": "orders", "limits": {"file": "2Gi"}}]}},
            "tls.clients[orders].limits.file = '2Gi' brings the teams' file limits (orders) "
            "to 2Gi, which leaves less than 1Mi of the 1Gi jetstream.file_store for the "
            "admins' account APP; lower them or raise jetstream.file_store",
        ),
        (
            {"tls": {"clients": ["dev", {"name": "orders", "limits": {"memory": "10Ki"}}]}},
            "tls.clients[orders].limits.memory = '10Ki' is less than 1Mi",
        ),
        (
            {
                "jetstream": {"memory_store": "2Mi"},
                "tls": {"clients": ["dev", {"name": "a"}, {"name": "b"}]},
            },
            "jetstream.memory_store = '2Mi' leaves each of the 3 accounts that share it",
        ),
        (
            {"tls": {"clients": ["dev", {"name": "orders", "limits": {"streams": 0}}]}},
            "tls.clients[orders].limits.streams = 0 must be between 1 and 1,000,000",
        ),
        (
            {"tls": {"clients": ["dev", {"name": "orders", "limits": {"disk": "1Gi"}}]}},
            "unknown key tls.clients[orders].limits.disk",
        ),
        (
            {"tls": {"clients": ["dev", {"name": "ops", "system": True, "limits": {}}]}},
            "tls.clients[ops].limits = {} cannot be given to a system identity",
        ),
    ],
)
def test_limits_that_cannot_hold_are_one_sentence(tmp_path, changes, words):
    spec = write_spec(tmp_path, changes)
    proc = invoke("configs", "--spec", str(spec))
    assert proc.returncode == 1
    assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "config" / "nodes").exists()

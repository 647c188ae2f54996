"""No team starves another, on the real engine: a team that reserves its whole file share
or fills its memory share is refused more, while the other team and the admins go on
creating streams and storing messages; `status`, `report` and `up` name the team and its
limit; a team's connections stop at its limit and nobody else's do. Changing teams is safe:
a team that holds streams is not removed, one that holds none logs in nowhere after `up`."""

from __future__ import annotations

import pytest
import yaml
from nats.errors import Error as NatsError
from nats.js.api import StorageType
from nats.js.errors import APIError

from courtyard.checks.report import report
from courtyard.checks.status import cluster_status
from courtyard.checks.workload import create_stream, publish_until_stored
from courtyard.core.errors import CourtyardError
from courtyard.project.limits import account_limits
from courtyard.project.loaded import load_project
from courtyard.servers.natsclient import connect, run_quietly
from tests.integration.conftest import quiet_up, running_cluster

MIB = 1024 * 1024
SPEC = {
    "jetstream": {"memory_store": "96Mi", "file_store": "384Mi"},
    "tls": {
        "clients": [
            "dev",
            {
                "name": "orders",
                "publish": ["orders.>"],
                "subscribe": ["orders.>"],
                "streams": ["ORDERS", "ORDERS_MORE", "ORDERS_MEM"],
                "limits": {"connections": 3},
            },
            {
                "name": "payments",
                "publish": ["payments.>"],
                "subscribe": ["payments.>"],
                "streams": ["PAYMENTS", "PAYMENTS_MEM"],
            },
            {"name": "ops", "system": True},
        ]
    },
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory, docker_client):
    with running_cluster(tmp_path_factory, docker_client, SPEC) as project:
        yield project


def as_team(project, name, nodes=None):
    return connect(project, nodes, identity=name, inbox_prefix=f"_INBOX_{name}")


async def drop_as(project, team: str, stream: str) -> None:
    """Delete `stream` as the team whose account holds it (an admin cannot see it)."""
    nc = await as_team(project, team)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def stores_a_message(project, identity, stream, subject, storage, max_bytes=-1):
    """`identity` creates `stream` (R3) and gets one message acknowledged into it."""
    nc = await (connect(project) if identity == "dev" else as_team(project, identity))
    js = nc.jetstream()
    try:
        await create_stream(
            js,
            name=stream,
            subjects=[subject],
            storage=storage,
            num_replicas=3,
            max_bytes=max_bytes,
        )
        ack = await publish_until_stored(js, subject, b"still served")
        await js.delete_stream(stream)
        return ack.seq
    finally:
        await nc.close()


def test_the_default_shares_fit_the_stores(limited):
    limits = account_limits(limited.spec)
    assert {a: (x.memory, x.file) for a, x in limits.items()} == {
        "APP": (32 * MIB, 128 * MIB),
        "orders": (32 * MIB, 128 * MIB),
        "payments": (32 * MIB, 128 * MIB),
    }


def test_a_team_that_reserves_its_file_share_leaves_the_others_theirs(limited, docker_client):
    share = account_limits(limited.spec)["orders"].file

    async def reserve():
        nc = await as_team(limited, "orders")
        js = nc.jetstream()
        try:
            # Every replica counts: an R3 stream of a third of the share takes all of it.
            await create_stream(
                js, name="ORDERS", subjects=["orders.big"], num_replicas=3, max_bytes=share // 3
            )
            try:
                await js.add_stream(
                    name="ORDERS_MORE", subjects=["orders.more"], num_replicas=3, max_bytes=MIB
                )
            except APIError as exc:
                return exc.description or ""
            return "not refused"
        finally:
            await nc.close()

    async def others():
        return [
            await stores_a_message(
                limited, "payments", "PAYMENTS", "payments.x", StorageType.FILE, 16 * MIB
            ),
            await stores_a_message(
                limited, "dev", "ADMINS", "admins.x", StorageType.FILE, 16 * MIB
            ),
        ]

    try:
        refused = run_quietly(reserve())
        stored = run_quietly(others())
        warnings = cluster_status(docker_client, limited).warnings
        reported = report(limited).limits
    finally:
        run_quietly(drop_as(limited, "orders", "ORDERS"))
    assert "insufficient storage" in refused
    assert stored == [1, 1]
    said = "team orders is at its file limit: 128.0Mi of 128Mi taken (ORDERS (128.0Mi)"
    assert [w for w in warnings if said in w], warnings
    assert [w for w in reported if said in w], reported
    assert not [w for w in warnings if "payments" in w or "APP" in w]


def test_a_team_that_fills_its_memory_share_leaves_the_others_theirs(limited):
    async def fill():
        nc = await as_team(limited, "orders")
        js = nc.jetstream()
        try:
            await create_stream(
                js, name="ORDERS_MEM", subjects=["orders.mem"], storage=StorageType.MEMORY
            )
            stored, chunk = 0, b"x" * (256 * 1024)
            while stored < 1000:
                try:
                    await js.publish("orders.mem", chunk, timeout=5)
                except (APIError, NatsError):
                    return stored
                stored += 1
            return stored
        finally:
            await nc.close()

    async def others():
        return [
            await stores_a_message(
                limited, "payments", "PAYMENTS_MEM", "payments.mem", StorageType.MEMORY
            ),
            await stores_a_message(limited, "dev", "ADMINS_MEM", "admins.mem", StorageType.MEMORY),
        ]

    try:
        stored = run_quietly(fill())
        served = run_quietly(others())
        up_said = quiet_up(limited)
    finally:
        run_quietly(drop_as(limited, "orders", "ORDERS_MEM"))
    # 32Mi of 256Ki messages, each counted once (R1): it stops at its share.
    assert 120 <= stored < 130, stored
    assert served == [1, 1]
    assert "team orders is at its memory limit" in up_said, up_said


def test_a_teams_connections_stop_at_its_limit_and_nobody_elses(limited):
    async def main():
        held = [await as_team(limited, "orders", [i % 3]) for i in range(3)]
        try:
            try:
                extra = await as_team(limited, "orders", [1])
                await extra.close()
                refused = False
            except Exception:
                refused = True
            others = [await as_team(limited, "payments", [i % 3]) for i in range(4)]
            for nc in others:
                await nc.close()
            return refused, len(others)
        finally:
            for nc in held:
                await nc.close()

    assert run_quietly(main()) == (True, 4)


def test_removing_a_team_that_holds_streams_is_refused_and_one_that_holds_none_logs_in_nowhere(
    make_project,
):
    """The measurement: removing `billing` with a stream made every later `up` fail after
    60 s rolling node 0 ("JetStream can not lookup account billing"), while billing still
    logged in on the other two nodes."""
    billing = {"name": "billing", "publish": ["billing.>"], "streams": ["BILLING"]}
    project = make_project({"tls": {"clients": ["dev", billing, *SPEC["tls"]["clients"][1:]]}})
    quiet_up(project)

    async def make_stream():
        nc = await as_team(project, "billing")
        try:
            await create_stream(nc.jetstream(), name="BILLING", subjects=["billing.>"])
        finally:
            await nc.close()

    async def logins() -> list[bool]:
        answers = []
        for node in range(3):
            try:
                nc = await as_team(project, "billing", [node])
            except Exception:
                answers.append(False)
            else:
                answers.append(True)
                await nc.close()
        return answers

    run_quietly(make_stream())
    spec = yaml.safe_load(project.spec.path.read_text())
    spec["tls"]["clients"] = [c for c in spec["tls"]["clients"] if c != billing]
    project.spec.path.write_text(yaml.safe_dump(spec))
    without = load_project(project.spec.path)
    config = project.layout.node_config(project.names.pod(0))
    before = config.read_text()
    with pytest.raises(CourtyardError) as refused:
        quiet_up(without)
    assert str(refused.value) == (
        "team billing is no longer in the spec but its account keeps stream(s) BILLING, "
        "which no node could serve once the account is gone; delete them as that identity "
        "(or copy out what you need) first, or keep billing in tls.clients"
    )
    assert config.read_text() == before  # nothing written, nothing rolled
    assert run_quietly(logins()) == [True, True, True]
    run_quietly(drop_as(project, "billing", "BILLING"))
    quiet_up(without)
    assert run_quietly(logins()) == [False, False, False]

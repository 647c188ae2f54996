"""Least privilege on the real engine: what a restricted identity may do works end to end,
everything else is refused by the server — on a cluster from `invoke up`, and on the config
the real nats/nats chart renders from the exported values."""

from __future__ import annotations

import secrets

from courtyard.artefacts import nodeconf
from courtyard.artefacts.certs import client_name, ensure_certs
from courtyard.checks import permissions, security
from courtyard.checks.outcome import Created
from courtyard.checks.workload import publish_once_reachable, until_reachable
from courtyard.core.polling import poll
from courtyard.helm import chart as helm_chart
from courtyard.helm import verify as helm_verify
from courtyard.project import naming
from courtyard.runtime import containers, docker_objects
from courtyard.runtime.image import ensure_image
from courtyard.servers.natsclient import connect, run_quietly
from tests.helpers import CURRENT_CHART, real_chart


def orders_of(project):
    return next(c for c in project.spec.tls.clients if c.name == "orders")


async def as_orders(project, refusals=None, nodes=None):
    return await connect(
        project,
        nodes,
        identity="orders",
        inbox_prefix=naming.inbox_prefix("orders"),
        **({"error_cb": refusals.record} if refusals else {}),
    )


def test_a_restricted_identity_uses_its_stream_consumer_and_bucket_end_to_end(cluster):
    async def main():
        nc = await as_orders(cluster)
        js = nc.jetstream()
        try:
            await js.add_stream(name="ORDERS", subjects=["orders.>"], num_replicas=3)
            # Retried only while no stream answers: seq 1 means it was stored once.
            seq = await publish_once_reachable(js, "orders.created.1", b'{"items": []}')
            consumer = await js.pull_subscribe(
                "orders.created.>", durable="pricer", stream="ORDERS"
            )
            # A new R3 consumer may answer "no responders" until its group has a leader.
            [message] = await until_reachable(
                lambda: consumer.fetch(1, timeout=5), what="the new consumer to answer"
            )
            await message.ack()
            kv = await js.create_key_value(bucket="orders-config", replicas=3)
            await until_reachable(lambda: kv.put("region", b"eu"))
            entry = await kv.get("region")
            await js.delete_key_value("orders-config")
            await js.delete_stream("ORDERS")
            return seq, message.data, entry.value
        finally:
            await nc.close()

    assert run_quietly(main()) == (1, b'{"items": []}', b"eu")


def test_a_restricted_identity_is_refused_other_streams_and_everyones_replies(cluster):
    async def main():
        refusals = permissions.Refusals()
        nc = await as_orders(cluster, refusals)
        try:
            await nc.publish("$JS.API.STREAM.CREATE.PAYMENTS", b"{}", reply=nc.new_inbox())
            await nc.subscribe("_INBOX.>")  # another client's replies
            await nc.subscribe(">")
            await nc.flush()
            return [
                await refusals.wait_for("publish", "$JS.API.STREAM.CREATE.PAYMENTS"),
                await refusals.wait_for("subscription", "_INBOX.>"),
                await refusals.wait_for("subscription", ">"),
            ]
        finally:
            await nc.close()

    assert run_quietly(main()) == [True, True, True]


def test_the_chart_rendered_config_refuses_the_same(make_project, docker_client, tmp_path):
    """One node from the chart's own nats.conf (its peers do not exist, so no JetStream
    leader: the checks are the server's permission refusals, which come first)."""
    project = make_project()
    ensure_certs(project.spec, project.names, project.layout)  # what the pod mounts
    objects = helm_verify.render(project, helm_chart.load(real_chart(CURRENT_CHART)))
    conf = next(o for o in objects if o.get("kind") == "ConfigMap")["data"]["nats.conf"]
    (tmp_path / "nats.conf").write_text(conf)
    mounts = {naming.CONFIG_FILE: tmp_path / "nats.conf", **nodeconf.tls_mounts(project.layout)}
    names = project.names
    docker_objects.ensure_network(docker_client, project)
    containers.create(
        docker_client,
        containers.ContainerDefinition(
            image=ensure_image(docker_client).tag,
            name=names.pod(0),
            network=names.network,
            labels=names.labels(str(project.spec.path), 0),
            entrypoint=naming.ENTRYPOINT,
            command=naming.COMMAND,
            environment={"SERVER_NAME": names.pod(0), "POD_NAME": names.pod(0)},
            read_only={str(host): path for path, host in mounts.items()},
            tmpfs=["/var/run/nats", naming.STORE_DIR],
            ports={f"{project.spec.ports.client}/tcp": names.client_host_port(0)},
        ),
    ).start()

    async def probe():
        admin = await connect(project, [0])
        try:
            detail = await permissions.probe_identity(
                project,
                orders_of(project),
                admin,
                "PAYMENTS",
                secrets.token_hex(3),
                Created(),
                nodes=[0],
                jetstream=False,
            )
        finally:
            await admin.close()
        layout = project.layout
        strangers = await security.run_client_probes(
            layout.ca_cert,
            layout.ca_key,
            names.client_host_port(0),
            stranger=client_name(project.spec, "stranger"),
            cluster_pairs={
                base: (layout.cert(base), layout.key(base)) for base in ("route", "server")
            },
        )
        return detail, strangers

    async def reachable():
        nc = await connect(project, [0])
        await nc.close()
        return True

    poll(
        lambda: run_quietly(reachable()),
        what="the chart-rendered node to accept Courtyard's own identity",
        timeout=30,
        not_yet=(Exception,),
    )
    detail, strangers = run_quietly(probe())
    assert "refused: publish courtyard.smoke" in detail
    for refused in (
        "$SYS server ping",
        "info of PAYMENTS",
        "read of PAYMENTS",
        "delete of PAYMENTS",
    ):
        assert refused in detail
    assert [(name, refused) for name, refused, _ in strangers if not refused] == []
    assert {name for name, _, _ in strangers} >= {
        "identity not in the spec",
        "route certificate as a client",
        "server certificate as a client",
    }

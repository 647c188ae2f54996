"""`invoke smoke`: prove the running cluster does what production will, through nats-py.

Every connection goes to tls://localhost:<host port> of one node, trusts only certs/ca.crt,
presents a client certificate of the spec and verifies the host name. Whatever the smoke
creates carries a unique tag and is deleted at the end, also when a check failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import docker
from docker.models.containers import Container
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError

from courtyard.artefacts import pki
from courtyard.artefacts.certs import client_name
from courtyard.artefacts.pki import Name, Usage
from courtyard.checks import escapes, permissions, security
from courtyard.checks.outcome import CheckFailed, CheckResult, Created, run_check
from courtyard.checks.resources import cluster_store_problems
from courtyard.checks.security import STRANGER
from courtyard.checks.traffic import check_traffic
from courtyard.checks.workload import (
    create_bucket,
    create_stream,
    publish_once_reachable,
    until_reachable,
)
from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.project.model import ClientIdentity
from courtyard.project.sans import dns
from courtyard.runtime import docker_objects
from courtyard.runtime.engine import connect as docker_connect
from courtyard.runtime.extra_node import extra_node
from courtyard.servers import monitor
from courtyard.servers.natsclient import connect, run_quietly, server_info
from courtyard.servers.system import (
    PROOF_SUBJECTS,
    SERVER_PING,
    connect_system,
    system_identity,
    what_others_get,
    who_answers,
)

ROUTE_REFUSAL_WAIT = 10.0


@dataclass(frozen=True)
class ExtraFindings:
    """What a check added by a higher layer found: its one-line summary, and figures the
    report keeps under `key` (the failover's: "failover")."""

    key: str
    summary: str
    figures: dict[str, Any]


# A check that a higher layer adds to the smoke (the harness's failover): its name, and its
# body, which gets the running Smoke (its project, engine client, tag and `Created`) and
# returns what it found; the smoke puts that in its report.
ExtraCheck = tuple[str, Callable[["Smoke"], Awaitable[ExtraFindings]]]


@dataclass
class SmokeReport:
    cluster: str
    spec: str
    checks: list[CheckResult] = field(default_factory=list)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> figures

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failover(self) -> dict[str, Any] | None:
        return self.extras.get("failover")

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "spec": self.spec,
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "failover": self.failover,
        }


def running_nodes(project: Project) -> tuple[docker.DockerClient, list[Container]]:
    """The cluster's containers, all running; a one-sentence error otherwise."""
    client = docker_connect()
    containers = docker_objects.node_containers(client, project)
    if not any(c is not None and c.status == "running" for c in containers):
        raise CourtyardError(
            f"no running Courtyard cluster for spec {project.spec.path}; run `invoke up`"
        )
    down = [
        f"{pod} ({state})"
        for pod, state in docker_objects.not_running(project.names.pods, containers).items()
    ]
    if down:
        raise CourtyardError(
            f"node {', '.join(down)} is not running; run `invoke up` to bring "
            "it back before the smoke"
        )
    return client, containers


class Smoke:
    def __init__(
        self,
        project: Project,
        *,
        messages: int = 1000,
        on_result: Callable[[CheckResult], None] = lambda result: None,
    ) -> None:
        self.project = project
        self.messages = messages
        self.on_result = on_result
        self.tag = secrets.token_hex(4).upper()
        self.replicas = min(3, project.spec.replicas)
        self.report = SmokeReport(project.names.fullname, str(project.spec.path))
        self.conns: list[Client] = []
        self.created = Created()
        self.client: docker.DockerClient | None = None
        self.stranger: tuple[bool, str] | None = None  # (refused, detail), once probed

    @property
    def nodes(self) -> range:
        return range(self.project.spec.replicas)

    def node_index(self, i: int) -> int:
        """Node i of the smoke's three roles (0, 1, 2), folded onto smaller clusters."""
        return i % self.project.spec.replicas

    async def check(self, name: str, body: Callable[[], Awaitable[str]]) -> bool:
        return self.record(await run_check(name, body))

    async def side_by_side(
        self, groups: list[list[tuple[str, Callable[[], Awaitable[str]]]]]
    ) -> None:
        """Groups of checks that touch only what is their own (one team's account each) run
        at once, the checks of a group one after the other; reported in their order."""

        async def one_after_the_other(group) -> list[CheckResult]:
            return [await run_check(name, body) for name, body in group]

        for results in await asyncio.gather(*(one_after_the_other(g) for g in groups)):
            for result in results:
                self.record(result)

    def record(self, result: CheckResult) -> bool:
        if not result.ok:
            # A full store shows as timeouts and "insufficient resources"; the servers'
            # endpoints say which node, limit and stream.
            full = cluster_store_problems(self.project.names.monitor_targets)
            if full:
                result.detail += f" ({'; '.join(full)})"
        self.report.checks.append(result)
        self.on_result(result)
        return result.ok

    async def run(
        self,
        client: docker.DockerClient,
        containers: list[Container],
        extra: Sequence[ExtraCheck] = (),
    ) -> SmokeReport:
        self.client = client
        try:
            if await self.check("connect to every node over mutual TLS", self.connect_all):
                await self.check(
                    "every node answers with its server_name and cluster name", self.identities
                )
                await self.check(
                    "core pub/sub crosses every ordered pair of nodes", self.pubsub_pairs
                )
                await self.check(
                    f"JetStream: {self.messages} acked publishes, replicated, read back in order",
                    self.jetstream_unless_full,
                )
                await self.check(
                    "KV: put through one node, get through another", self.kv_unless_full
                )
            await self.check("security: strangers are refused", self.client_security)
            await self.check(
                "security: a route from another CA does not join",
                lambda: self.rogue_route(client, containers[0]),
            )
            await self.check(
                "security: a client identity's certificate does not join as a route",
                lambda: self.identity_route(client, containers[0]),
            )
            teams = self.project.spec.tls.team_identities
            if teams and self.conns:
                await self.check(
                    "traffic: between identities on different nodes, events once, requests "
                    "answered, team streams store what was acked",
                    self.traffic,
                )
                # Made once, before the teams' probes run at once; should it fail, each
                # probe tries again and fails as a check of its own.
                with contextlib.suppress(Exception):
                    await self.foreign_stream()
                await self.side_by_side(
                    [
                        [
                            (
                                f"permissions: {identity.name} gets only what the spec lists",
                                lambda identity=identity: self.identity_rights(identity),
                            ),
                            (
                                f"security: {identity.name}'s streams reach nothing outside "
                                "its account",
                                lambda identity=identity: self.stream_escapes(identity),
                            ),
                        ]
                        for identity in teams
                    ]
                )
            if self.conns:
                await self.check(
                    "system account: only the system identity gets the servers' answers",
                    self.system_rights,
                )
            for name, body in extra if self.conns else ():
                await self.check(name, lambda body=body: self._extra(body))
        finally:
            await self.check("cleanup: the smoke's streams and buckets are deleted", self.cleanup)
        return self.report

    async def _extra(self, body: Callable[[Smoke], Awaitable[ExtraFindings]]) -> str:
        found = await body(self)
        self.report.extras[found.key] = found.figures
        return found.summary

    # a. ------------------------------------------------------------------------------------
    async def connect_all(self) -> str:
        for i in self.nodes:
            self.conns.append(await connect(self.project, [i], role=f"smoke-{i}"))
        return f"{len(self.conns)} connections, hostname verified against certs/ca.crt"

    async def identities(self) -> str:
        names = self.project.names
        for i in self.nodes:
            info = await asyncio.to_thread(server_info, names.client_host_port(i))
            if info.get("server_name") != names.pod(i):
                raise CheckFailed(
                    f"node {i} says server_name {info.get('server_name')!r}, "
                    f"expected {names.pod(i)!r}"
                )
            if info.get("cluster") != names.cluster_name:
                raise CheckFailed(
                    f"{names.pod(i)} is in cluster {info.get('cluster')!r}, "
                    f"expected {names.cluster_name!r}"
                )
        return f"{', '.join(names.pods)} in cluster {names.cluster_name}"

    # b. ------------------------------------------------------------------------------------
    async def pubsub_pairs(self) -> str:
        pairs = [(s, p) for s in self.nodes for p in self.nodes if s != p]
        for sub_node, pub_node in pairs:
            subject = f"smoke.{self.tag}.core.{sub_node}.{pub_node}"
            received = asyncio.get_running_loop().create_future()

            async def on_message(msg, done=received):
                if not done.done():
                    done.set_result(msg.data)

            sub = await self.conns[sub_node].subscribe(subject, cb=on_message)
            await self.conns[sub_node].flush()

            pub, payload = self.conns[pub_node], f"from {pub_node}".encode()

            async def arrived(pub=pub, subject=subject, received=received, payload=payload) -> bool:
                # Interest crosses the route asynchronously: publish until it arrives.
                await pub.publish(subject, payload)
                await pub.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(received), 0.1)
                return received.done()

            try:
                await poll_async(
                    arrived,
                    what=f"a message published on node {pub_node} to "
                    f"reach a subscriber on node {sub_node}",
                    timeout=5,
                    interval=0,
                )
            except WaitTimeout as exc:
                raise CheckFailed(str(exc)) from None
            finally:
                await sub.unsubscribe()
        return f"{len(pairs)} ordered pairs" if pairs else "one node: nothing to cross"

    # c. ------------------------------------------------------------------------------------
    async def jetstream_unless_full(self) -> str:
        self.refuse_full_store()
        return await self.jetstream()

    def refuse_full_store(self) -> None:
        """Fail at once, without writing, when a node's store is full: every write would
        wait out its timeout and could leave a stream behind."""
        if cluster_store_problems(self.project.names.monitor_targets):
            raise CheckFailed("not tried: a JetStream store is full")

    async def jetstream(self) -> str:
        """Publish through node 0, see it replicated through node 1, read it in order
        through node 2."""
        stream, subject = f"SMOKE_{self.tag}", f"smoke.{self.tag}.js"
        await self._publish_in_order(stream, subject)
        info = await self._replicated(stream)
        replicas = (info.cluster.replicas or []) if info.cluster else []
        await self._read_in_order(stream, subject)
        return (
            f"{stream} R{self.replicas} file: {self.messages} acked via node 0, "
            f"{len(replicas) + 1} replicas current via node 1, read in order via node 2"
        )

    async def _publish_in_order(self, stream: str, subject: str) -> None:
        js0 = self.conns[self.node_index(0)].jetstream(publish_async_max_pending=256)
        await create_stream(
            js0,
            name=self.created.stream(stream),
            subjects=[f"{subject}.>"],
            storage=StorageType.FILE,
            num_replicas=self.replicas,
        )
        first = await publish_once_reachable(js0, f"{subject}.m", b"0")
        futures = [
            await js0.publish_async(f"{subject}.m", str(i).encode())
            for i in range(1, self.messages)
        ]
        acks = await asyncio.gather(*futures)
        if [first] + [ack.seq for ack in acks] != list(range(1, self.messages + 1)):
            raise CheckFailed("acknowledged sequences are not 1..N in publish order")

    async def _replicated(self, stream: str):
        """The stream's info through node 1 once it holds every message on every replica."""
        js1 = self.conns[self.node_index(1)].jetstream()

        def lagging(info) -> list[str]:
            replicas = (info.cluster.replicas or []) if info.cluster else []
            return [r.name for r in replicas if not r.current]

        try:
            return await poll_async(
                lambda: js1.stream_info(stream),
                timeout=10,
                what=f"node 1 to see {self.messages} messages and every replica current",
                done=lambda info: info.state.messages == self.messages and not lagging(info),
            )
        except WaitTimeout as exc:
            last = exc.last
            raise CheckFailed(
                f"stream info from node 1: {last.state.messages} messages, "
                f"replicas not current: {', '.join(lagging(last)) or '-'}"
            ) from None

    async def _read_in_order(self, stream: str, subject: str) -> None:
        js2 = self.conns[self.node_index(2)].jetstream()
        psub = await js2.pull_subscribe(
            f"{subject}.>",
            durable="smoke",
            stream=stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
        )
        expected = 0
        while expected < self.messages:
            # Right after the consumer is made, node 2 may not know where it lives yet and
            # answers "no responders" (503); nothing was delivered then, so asking again is safe.
            wanted = min(500, self.messages - expected)
            batch = await until_reachable(
                lambda wanted=wanted: psub.fetch(wanted, timeout=5),
                what="the consumer to answer through node 2",
            )
            for msg in batch:
                if (
                    msg.metadata.sequence.stream != expected + 1
                    or msg.data != str(expected).encode()
                ):
                    raise CheckFailed(
                        f"consumer on node 2 got seq {msg.metadata.sequence.stream}"
                        f" ({msg.data!r}) where {expected + 1} was due"
                    )
                await msg.ack()
                expected += 1

    # d. ------------------------------------------------------------------------------------
    async def kv_unless_full(self) -> str:
        self.refuse_full_store()
        return await self.kv()

    async def kv(self) -> str:
        bucket = f"SMOKE_{self.tag}"
        kv0 = await create_bucket(
            self.conns[self.node_index(0)].jetstream(),
            bucket=self.created.bucket(bucket),
            history=1,
            replicas=self.replicas,
        )
        value = f"smoke {self.tag}".encode()
        await until_reachable(lambda: kv0.put("greeting", value))
        kv1 = await self.conns[self.node_index(1)].jetstream().key_value(bucket)
        entry = await kv1.get("greeting")
        if entry.value != value:
            raise CheckFailed(f"node 1 read {entry.value!r}, node 0 wrote {value!r}")
        return f"bucket {bucket} R{self.replicas}: node 1 reads what node 0 wrote"

    # e. ------------------------------------------------------------------------------------
    async def client_security(self, port: int | None = None) -> str:
        layout = self.project.layout
        port = port or self.project.names.client_host_port(0)
        results = await security.run_client_probes(
            layout.ca_cert,
            layout.ca_key,
            port,
            stranger=client_name(self.project.spec, f"stranger-{self.tag.lower()}"),
            cluster_pairs={
                base: (layout.cert(base), layout.key(base)) for base in ("route", "server")
            },
        )
        accepted = [name for name, refused, _ in results if not refused]
        if accepted:
            raise CheckFailed(f"the server ACCEPTED: {', '.join(accepted)}")
        # The stranger's refusal also answers the system-rights check: probed once.
        self.stranger = next(
            (
                (refused, security.at_login(detail))
                for name, refused, detail in results
                if name == STRANGER
            ),
            None,
        )
        return "; ".join(f"{name}: {detail}" for name, _, detail in results)

    async def foreign_stream(self) -> str:
        """A stream of the shared account, holding one message, that no restricted identity
        may touch."""
        js = self.conns[0].jetstream()
        foreign = f"SMOKE_{self.tag}_FOREIGN"
        if foreign not in self.created.streams:
            subject = f"smoke.{self.tag}.foreign"
            await create_stream(js, name=self.created.stream(foreign), subjects=[subject])
            await publish_once_reachable(js, subject, b"another team's data")
        return foreign

    async def traffic(self) -> str:
        """Every route between two identities the lists allow (`traffic.py`)."""
        return await check_traffic(self.project, self.tag.lower())

    async def identity_rights(self, identity: ClientIdentity) -> str:
        js = self.conns[0].jetstream()
        foreign = await self.foreign_stream()
        detail = await permissions.probe_identity(
            self.project, identity, self.conns[0], foreign, self.tag.lower(), self.created
        )
        await js.stream_info(foreign)  # the refused delete really left it alone
        return detail

    async def stream_escapes(self, identity: ClientIdentity) -> str:
        """Sources, mirror, captured subjects, republish and push delivery on the identity's
        own stream: each goes nowhere outside its account (`escapes.py`)."""
        target = escapes.Target(
            await self.foreign_stream(), f"{naming.PREFIX}.smoke.{self.tag.lower()}.foreign"
        )
        return await escapes.probe_escapes(
            self.project, identity, self.conns[0], target, self.tag.lower()
        )

    async def system_rights(self) -> str:
        """The system identity gets every node's answer to the server ping and to JSZ; an
        admin, a restricted identity and a stranger get none."""
        spec = self.project.spec
        lines = [await self._system_answers()] if spec.tls.system_identities else []
        if not lines:
            lines.append("the spec has no system identity: nobody can ask the servers")
        outsiders = [
            next(iter(spec.tls.admin_identities), None),
            next((c for c in spec.tls.clients if c.restricted), None),
        ]
        for identity in (c for c in outsiders if c is not None):
            lines.append(await self._outsider_gets_nothing(identity))
        refused, detail = self.stranger or await security.stranger_refused(
            self.project.layout.ca_cert,
            self.project.layout.ca_key,
            self.project.names.client_host_port(0),
            client_name(spec, f"stranger-{self.tag.lower()}"),
        )
        if not refused:
            raise CheckFailed(f"a stranger's certificate was accepted: {detail}")
        lines.append(f"a stranger: {detail}")
        return "; ".join(lines)

    async def _system_answers(self) -> str:
        names, replicas = self.project.names, self.project.spec.replicas
        who = system_identity(self.project)
        nc = await connect_system(self.project, who)
        try:
            answered = await who_answers(nc, PROOF_SUBJECTS, expected=replicas)
        finally:
            await nc.close()
        for subject, servers in answered.items():
            missing = sorted(set(names.pods) - set(servers))
            if missing:
                raise CheckFailed(f"{who}: no answer to {subject} from {', '.join(missing)}")
        return f"{who}: all {replicas} servers answered {SERVER_PING} and .JSZ"

    async def _outsider_gets_nothing(self, identity: ClientIdentity) -> str:
        refusals = permissions.Refusals()
        nc = await permissions.connect_as(self.project, identity, refusals)
        try:
            got = []
            for subject in PROOF_SUBJECTS:
                answer = await what_others_get(nc, subject, refusals.violated)
                if answer is None:
                    raise CheckFailed(f"{identity.name} got an answer to {subject}")
                got.append(answer)
        finally:
            await nc.close()
        return f"{identity.name}: {' / '.join(dict.fromkeys(got))}"

    async def rogue_route(self, client: docker.DockerClient, node: Container) -> str:
        """A fourth server on the nodes' own network (made by `up` or by Compose), with a
        route certificate of another CA: every TLS handshake fails."""
        names = self.project.names
        other_ca, other_key = pki.create_ca(Name("Courtyard smoke: rogue CA"), 1)
        cert, key = pki.issue_leaf(
            other_ca,
            other_key,
            Name("rogue"),
            [*names.route_sans, dns(names.probe_node("rogue"))],
            Usage.ROUTE,
            1,
        )
        pair = (pki.cert_pem(cert), pki.key_pem(key), pki.cert_pem(other_ca))
        return await self._route_refused(client, node, "rogue", pair, "tls", "TLS handshake")

    async def identity_route(self, client: docker.DockerClient, node: Container) -> str:
        """The same with Courtyard's own client identity: the cluster's CA signed it, but
        it names no route host, so the nodes refuse it after the handshake."""
        layout = self.project.layout
        identity = naming.RESERVED_IDENTITY
        pair = (
            layout.client_cert(identity).read_bytes(),
            layout.client_key(identity).read_bytes(),
            layout.ca_cert.read_bytes(),
        )
        marker = "authorization violation"
        return await self._route_refused(client, node, "ident", pair, marker, "route login")

    async def _route_refused(
        self,
        client: docker.DockerClient,
        node: Container,
        role: str,
        pair: tuple[bytes, bytes, bytes],
        marker: str,
        refusal: str,
    ) -> str:
        """A probe server dialing every route with `pair` (cert, key, CA) must stay out:
        `marker` in its log counts the refused attempts, and no node may list it as a peer.

        The nodes' own routes are the judge, not the probe's: a probe that dials a node lists
        that route from the node's INFO on, before the node has read its CONNECT and refused
        it, so the probe's /routez shows each refused attempt for a moment. A node adds a
        route only once it has accepted its login."""
        names = self.project.names
        image = node.image.id
        network = next(iter(node.attrs["NetworkSettings"]["Networks"]))
        rogue_name = names.probe_node(role, self.tag)
        with extra_node(
            client, self.project, image, rogue_name, list(names.route_urls), *pair, network
        ) as rogue:

            async def tls_attempts() -> int:
                joined = await asyncio.to_thread(self._peers_outside_cluster, rogue_name)
                if joined:
                    raise CheckFailed(f"{', '.join(joined)} routed to the rogue node")
                return (await asyncio.to_thread(rogue.logs)).lower().count(marker)

            try:
                attempts = await poll_async(
                    tls_attempts,
                    what="the rogue node to dial every route",
                    timeout=ROUTE_REFUSAL_WAIT,
                    interval=0.1,
                    done=lambda count: count >= len(names.pods),
                )
            except WaitTimeout as exc:
                attempts = exc.last
            if not attempts:
                raise CheckFailed(
                    "the rogue node never tried a route; cannot tell if it would have been refused"
                )
            joined = await asyncio.to_thread(self._peers_outside_cluster, rogue_name)
            if joined:
                raise CheckFailed(f"{', '.join(joined)} routed to the rogue node")
        # What was seen, not what was hoped: the log counts refused attempts, not which of
        # the route URLs they went to (a timeout may end the wait before all were tried).
        return (
            f"{rogue_name} dialed the {len(names.route_urls)} route URLs: {attempts} "
            f"{refusal} refusal(s) in its log, no node took it as a peer"
        )

    def _peers_outside_cluster(self, rogue: str) -> list[str]:
        names = self.project.names
        found = []
        for pod, port in names.monitor_targets:
            peers = monitor.peers_of(port)
            if rogue in peers or not peers <= set(names.pods):
                found.append(pod)
        return found

    # f. ------------------------------------------------------------------------------------
    async def cleanup(self) -> str:
        for nc in self.conns:
            with contextlib.suppress(Exception):  # a node may have been stopped under it
                await nc.close()
        created = self.created
        if not created.streams and not created.buckets:
            return "nothing was created"
        # A fresh connection to every node: the one to node 0 may be gone after a failover.
        nc = await connect(self.project, role="smoke-cleanup")
        try:
            js = nc.jetstream()
            # Each deletion on its own, so that one that fails (a full store, a stream
            # without a leader) does not keep the others; a stream that never came to be
            # is fine. Whatever carries the smoke's tag is deleted too.
            for bucket in created.buckets:
                await _delete_quietly(lambda bucket=bucket: js.delete_key_value(bucket))
            for stream in created.streams:
                await _delete_quietly(lambda stream=stream: js.delete_stream(stream))
            left = [
                info.config.name for info in await js.streams_info() if self.tag in info.config.name
            ]
            for stream in left:
                await _delete_quietly(lambda stream=stream: js.delete_stream(stream))
            left = [
                info.config.name for info in await js.streams_info() if self.tag in info.config.name
            ]
        finally:
            await nc.close()
        if left:
            raise CheckFailed(f"still there: {', '.join(left)}")
        return f"deleted {len(created.streams)} stream(s) and {len(created.buckets)} bucket(s)"


async def _delete_quietly(delete: Callable[[], Awaitable[object]]) -> None:
    """Delete, retrying a JetStream that does not answer yet; "not found" is done."""
    with contextlib.suppress(NotFoundError, BucketNotFoundError, WaitTimeout):
        await until_reachable(
            delete, timeout=10.0, also=(NatsTimeoutError, asyncio.TimeoutError), what="a delete"
        )


def run(
    project: Project,
    *,
    messages: int = 1000,
    extra: Sequence[ExtraCheck] = (),
    on_result: Callable[[CheckResult], None] = lambda result: None,
) -> SmokeReport:
    """Run the smoke (and the `extra` checks, e.g. the failover) against the running cluster."""
    if messages < 1:
        raise CourtyardError(f"--messages {messages} must be at least 1")
    client, containers = running_nodes(project)
    smoke = Smoke(project, messages=messages, on_result=on_result)
    return run_quietly(smoke.run(client, containers, extra))

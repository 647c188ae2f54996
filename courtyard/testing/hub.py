"""The cluster a test session talks to: its addresses, the CA, each identity's certificate,
nats-py connections, nodes a failover test may stop and start again, and faults (partition,
pause, kill, stop, clients cut off, slow links) that heal when their `with` block ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import nats
from nats.aio.client import Client

from courtyard.artefacts.client_access import client_identity, env_vars
from courtyard.core.errors import CourtyardError
from courtyard.harness import holders
from courtyard.harness.faults import (
    Fault,
    FaultInjector,
    MetaLeader,
    ServerOf,
    SlowLink,
    StreamLeader,
    Target,
)
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers.natsclient import tls_context

# A test's client rides out a node restart: it retries every 0.2 s for about 10 s.
CONNECT_DEFAULTS = {
    "connect_timeout": 3,
    "reconnect_time_wait": 0.2,
    "max_reconnect_attempts": 50,
}
START_TIMEOUT = 60.0


def _refuse_on_event_loop(method: str) -> None:
    """A blocking call on the event loop's thread would freeze the service under test (and
    its clients' heartbeats) for the whole stop or start: say what to call instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise CourtyardError(
        f"{method} blocks and this is async code; use `await courtyard_cluster.{method}_async(...)`"
    )


@dataclass(frozen=True)
class Identity:
    """A client identity of the spec: its certificate and key, signed by the cluster's CA."""

    name: str
    cert: Path
    key: Path
    ca: Path
    restricted: bool = False  # only what the spec lists; replies on its own inbox prefix

    @property
    def inbox_prefix(self) -> str | None:
        return naming.inbox_prefix(self.name) if self.restricted else None

    def ssl_context(self) -> ssl.SSLContext:
        """Mutual TLS: trusts only the cluster's CA, verifies host names, presents the pair."""
        return tls_context(self.ca, self.cert, self.key)


@dataclass
class Hub:
    """What a service test needs to reach the cluster, handed over by `courtyard_cluster`."""

    project: Project
    client: docker.DockerClient = field(repr=False)
    ephemeral: bool = False
    stopped: set[int] = field(default_factory=set)
    faults: FaultInjector = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # One set of nodes down on purpose: stop_node's and the faults' kill and stop.
        self.faults = FaultInjector(
            self.client, self.project, self.stopped, before_break=self._breaking
        )

    def _breaking(self) -> None:
        """Before the first fault or stop on the spec's own cluster: mark it as this
        process's, so that should the session die with it broken, the next one knows whose
        leftovers they are and heals them (`session.heal_ended_sessions`)."""
        mark = self.project.layout.session_mark(os.getpid())
        if not self.ephemeral and not mark.exists():
            holders.write_process_record(mark)

    @property
    def name(self) -> str:
        """The cluster's name: the chart's fullname, prefix of every container."""
        return self.project.names.fullname

    @property
    def spec_file(self) -> Path:
        return self.project.spec.path

    @property
    def servers(self) -> list[str]:
        """`tls://localhost:<port>` of every node, in pod order."""
        return self.project.names.client_urls

    @property
    def monitor_urls(self) -> list[str]:
        return [naming.monitor_url(port) for _, port in self.project.names.monitor_targets]

    @property
    def ca_file(self) -> Path:
        return self.project.layout.ca_bundle

    @property
    def identities(self) -> dict[str, Identity]:
        layout = self.project.layout
        return {
            c.name: Identity(
                c.name,
                layout.client_cert(c.name),
                layout.client_key(c.name),
                self.ca_file,
                c.restricted,
            )
            for c in self.project.spec.tls.clients
        }

    def identity(self, name: str | None = None) -> Identity:
        """The identity named (one of the spec's), else the spec's first."""
        return self.identities[client_identity(self.project, name)]

    def ssl_context(self, identity: str | None = None) -> ssl.SSLContext:
        return self.identity(identity).ssl_context()

    def env(self, identity: str | None = None) -> dict[str, str]:
        """NATS_URL, NATS_CA, NATS_CERT and NATS_KEY, as `invoke env` prints them."""
        return env_vars(self.project, identity)

    async def connect(
        self, identity: str | None = None, *, nodes: list[int] | None = None, **options
    ) -> Client:
        """A nats-py client on the running event loop, with mutual TLS as `identity`.

        `nodes` limits (and orders) the servers it may use, e.g. `[0]` to publish through
        the first node only; other options go to `nats.connect` as they are.
        """
        who = self.identity(identity)
        servers = self.servers if nodes is None else [self._url(i) for i in nodes]
        settings = {
            **CONNECT_DEFAULTS,
            "name": naming.connection_name("pytest"),
            "dont_randomize": nodes is not None,
            **({"inbox_prefix": who.inbox_prefix} if who.inbox_prefix else {}),
            **options,
        }
        return await nats.connect(servers=servers, tls=who.ssl_context(), **settings)

    def node_index(self, server_name: str) -> int:
        """The index of the node with this server name (its pod name), e.g. a stream's leader
        as `stream_info().cluster.leader` names it."""
        return self.faults.resolve(server_name)

    def stop_node(self, index: int) -> None:
        """Stop node `index` (its container, as a crashed pod); returns once it is down."""
        _refuse_on_event_loop("stop_node")
        container = self._container(index)
        self._breaking()
        container.stop(timeout=docker_objects.STOP_TIMEOUT)
        self.stopped.add(index)

    def start_node(self, index: int, timeout: float = START_TIMEOUT) -> None:
        """Start node `index` again and wait until the cluster is ready, as `invoke up` does."""
        _refuse_on_event_loop("start_node")
        self._container(index).start()
        self.stopped.discard(index)
        self.faults.wait_ready(timeout)

    async def stop_node_async(self, index: int) -> None:
        """`stop_node` for async code: the event loop (and the service under test) runs on."""
        await asyncio.to_thread(self.stop_node, index)

    async def start_node_async(self, index: int, timeout: float = START_TIMEOUT) -> None:
        """`start_node` for async code: the event loop runs on while the node comes back."""
        await asyncio.to_thread(self.start_node, index, timeout)

    # Faults: each heals when its block ends and returns once the cluster is ready ------
    meta_leader = MetaLeader()  # the node leading the meta group when the fault starts

    @staticmethod
    def stream_leader(stream: str) -> StreamLeader:
        """The node leading `stream` when the fault starts."""
        return StreamLeader(stream)

    @staticmethod
    def server_of(client: Client) -> ServerOf:
        """The node `client` is connected to when the fault starts."""
        return ServerOf(client)

    def which(self, node: Target) -> int:
        """The index of the node `node` names now (an index, a server name or a role)."""
        _refuse_on_event_loop("which")
        return self.faults.resolve(node)

    async def which_async(self, node: Target) -> int:
        return await asyncio.to_thread(self.faults.resolve, node)

    def partition(self, node: Target) -> contextlib.AbstractContextManager[Fault]:
        """The node loses its routes and peers; clients on it stay on it. Needs root."""
        return self._holding("partition", node)

    def isolate_clients(self, node: Target) -> contextlib.AbstractContextManager[Fault]:
        """The node's client connections are closed and refused; its routes stay."""
        return self._holding("isolate-clients", node)

    def pause(self, node: Target) -> contextlib.AbstractContextManager[Fault]:
        """The node is frozen (`docker pause`): connections stay open, nothing answers."""
        return self._holding("pause", node)

    def kill(self, node: Target) -> contextlib.AbstractContextManager[Fault]:
        """SIGKILL for the node; it starts again when the block ends."""
        return self._holding("kill", node)

    def stop(self, node: Target) -> contextlib.AbstractContextManager[Fault]:
        """Lame duck mode as the chart's preStop hook, then exit (about 30 s)."""
        return self._holding("stop", node)

    def slow(
        self, node: Target, *, loss: float = 0, delay_ms: float = 0, jitter_ms: float = 0,
        towards: str = "all",
    ) -> contextlib.AbstractContextManager[Fault]:  # fmt: skip
        """Loss (percent, each way, towards peers, clients or all), delay and jitter (ms)."""
        return self._holding("slow", node, SlowLink(loss, delay_ms, jitter_ms, towards))

    def partition_async(self, node: Target) -> contextlib.AbstractAsyncContextManager[Fault]:
        return self._holding_async("partition", node)

    def isolate_clients_async(self, node: Target) -> contextlib.AbstractAsyncContextManager[Fault]:
        return self._holding_async("isolate-clients", node)

    def pause_async(self, node: Target) -> contextlib.AbstractAsyncContextManager[Fault]:
        return self._holding_async("pause", node)

    def kill_async(self, node: Target) -> contextlib.AbstractAsyncContextManager[Fault]:
        return self._holding_async("kill", node)

    def stop_async(self, node: Target) -> contextlib.AbstractAsyncContextManager[Fault]:
        return self._holding_async("stop", node)

    def slow_async(
        self, node: Target, *, loss: float = 0, delay_ms: float = 0, jitter_ms: float = 0,
        towards: str = "all",
    ) -> contextlib.AbstractAsyncContextManager[Fault]:  # fmt: skip
        return self._holding_async("slow", node, SlowLink(loss, delay_ms, jitter_ms, towards))

    @contextlib.contextmanager
    def _holding(self, kind: str, node: Target, slow: SlowLink | None = None) -> Iterator[Fault]:
        _refuse_on_event_loop(kind.replace("-", "_"))
        with self.faults.holding(kind, node, slow, START_TIMEOUT) as fault:
            yield fault

    @contextlib.asynccontextmanager
    async def _holding_async(
        self, kind: str, node: Target, slow: SlowLink | None = None
    ) -> AsyncIterator[Fault]:
        # Applied and healed in a thread: the event loop (and the service under test) runs on.
        fault = await asyncio.to_thread(self.faults.apply, kind, node, slow)
        try:
            yield fault
        finally:
            await asyncio.to_thread(self.faults.heal, fault, START_TIMEOUT)

    def restore(self) -> list[str]:
        """Heal every fault the nodes show and start every node this session stopped and
        left stopped; one line per node it changed."""
        healed = self.faults.heal_all(START_TIMEOUT)
        self.project.layout.session_mark(os.getpid()).unlink(missing_ok=True)
        return healed

    def _url(self, index: int) -> str:
        self._check_index(index)
        return self.project.names.client_url(index)

    def _check_index(self, index: int) -> None:
        self.faults.resolve(index)

    def _container(self, index: int):
        return self.faults.container(self.faults.resolve(index))

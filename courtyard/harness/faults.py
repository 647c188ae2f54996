"""Faults on demand: which node, break it, see the break take hold, heal until ready again.

One `FaultInjector` serves the pytest plugin's `courtyard_cluster.partition(...)` & co and
`invoke fault`. A node is named by its index, its server name (the pod name), or its role,
resolved when the fault is applied: `MetaLeader()`, `StreamLeader("ORDERS")`, or
`ServerOf(nc)` (the node a nats-py client is connected to). Healing always ends with the
readiness wait of `invoke up`: every running node has its routes, names the same meta leader
and reports healthy, so the next line of a test runs against a whole cluster.

The kinds:

- partition: the node loses its routes and its peers; clients connected to it stay on it
  and see what a partitioned server gives them (no JetStream leader on the minority side,
  no messages from the other side);
- isolate-clients: its client connections are closed and refused; routes stay;
- pause: every process of the node frozen (`docker pause`), connections held open;
- kill: SIGKILL; started again on heal;
- stop: lame duck mode, as the chart's preStop hook does (leaders move away, clients are
  told to go elsewhere), then the server exits; started again on heal;
- slow: packet loss, delay and jitter on the node's links (`SlowLink`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import docker
from docker.models.containers import Container

from courtyard.checks.readiness import wait_ready
from courtyard.core.errors import CourtyardError
from courtyard.core.interrupts import deferred_interrupt
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects, link_faults
from courtyard.servers import jsz, monitor

KINDS = ("partition", "isolate-clients", "pause", "kill", "stop", "slow")
HEAL_TIMEOUT = 60.0
TAKE_HOLD_TIMEOUT = 15.0  # a partition shows in every node's routes within this
KILL_TIMEOUT = 10.0
# nats-server's lame duck mode as the configs set it (30 s) and the time the server takes to
# shut down after it; a stop that takes longer is finished with SIGKILL.
LAME_DUCK_TIMEOUT = 50.0


@dataclass(frozen=True)
class MetaLeader:
    """The node that leads the JetStream meta group when the fault is applied."""

    def __str__(self) -> str:
        return "the meta leader"


@dataclass(frozen=True)
class StreamLeader:
    """The node that leads `stream` when the fault is applied."""

    stream: str

    def __str__(self) -> str:
        return f"the leader of stream {self.stream}"


class _Connected(Protocol):
    connected_url: Any


@dataclass(frozen=True)
class ServerOf:
    """The node a nats-py client is connected to when the fault is applied."""

    client: _Connected = field(compare=False)

    def __str__(self) -> str:
        return "the client's server"


Target = int | str | MetaLeader | StreamLeader | ServerOf


@dataclass(frozen=True)
class SlowLink:
    """What `slow` does to a node's links: loss in percent (each way), delay and jitter in
    milliseconds on all it sends; loss towards peers, clients or all."""

    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    towards: str = "all"

    def check(self) -> None:
        if not (self.loss or self.delay_ms):
            raise CourtyardError("a slow link needs a loss or a delay, e.g. loss=5 or delay_ms=100")
        if self.jitter_ms and not self.delay_ms:
            raise CourtyardError("jitter varies a delay: give delay_ms as well")
        if self.towards not in link_faults.TOWARDS:
            raise CourtyardError(
                f"towards must be one of {', '.join(link_faults.TOWARDS)}, not {self.towards!r}"
            )
        if self.delay_ms and self.towards != "all":
            raise CourtyardError(
                "delay and jitter apply to everything the node sends; leave towards at 'all' "
                "or use loss alone"
            )


@dataclass
class Fault:
    """One fault applied: what, where, and how long it took to take hold."""

    kind: str
    node: int
    pod: str
    detail: str
    took: float = 0.0  # seconds from the call until the fault showed
    healed_in: float | None = None  # seconds the heal took until the cluster was ready


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise CourtyardError(f"there is no fault {kind!r}; the kinds are {', '.join(KINDS)}")


@dataclass
class FaultInjector:
    """Faults on the nodes of `project`'s running cluster. `down` holds the indexes of nodes
    that are stopped on purpose (shared with the pytest plugin's `stop_node`); they are left
    out of the readiness wait after a heal."""

    client: docker.DockerClient
    project: Project
    down: set[int] = field(default_factory=set)
    active: list[Fault] = field(default_factory=list)
    # Called before each fault is applied (the test hub marks the cluster as its own).
    before_break: Callable[[], None] = field(default=lambda: None, repr=False)

    # Which node -------------------------------------------------------------------------
    def resolve(self, target: Target) -> int:
        """The index of the node `target` names now; a mistake is one sentence."""
        names = self.project.names
        if isinstance(target, (int, str)):  # bool included: index_of refuses it
            return names.index_of(target)
        up = [t for i, t in enumerate(names.monitor_targets) if i not in self.down]
        if isinstance(target, MetaLeader):
            leader = jsz.meta_leader(up)
            if not leader:
                raise CourtyardError(
                    "no node names a JetStream meta leader now; is the cluster up?"
                )
            return self._index_of(leader, f"the meta leader {leader!r} is not a node of the spec")
        if isinstance(target, StreamLeader):
            leader = jsz.stream_leader(up, target.stream)
            if not leader:
                raise CourtyardError(
                    f"no node names a leader for stream {target.stream!r}; check the name "
                    "(as the test created it) and that the stream exists"
                )
            return self._index_of(leader, f"stream {target.stream}'s leader is not a node")
        if isinstance(target, ServerOf):
            url = getattr(target.client, "connected_url", None)
            port = getattr(url, "port", None)
            for index in range(names.replicas):
                if names.client_host_port(index) == port:
                    return index
            raise CourtyardError(
                "that client is not connected to a node of this cluster (connected_url "
                f"{getattr(url, 'netloc', None) or 'none'})"
            )
        raise CourtyardError(f"a node is an index, a server name or a role, not {target!r}")

    def _index_of(self, pod: str, problem: str) -> int:
        pods = self.project.names.pods
        if pod not in pods:
            raise CourtyardError(
                f"{problem}; cluster {self.project.names.fullname} has {', '.join(pods)}"
            )
        return pods.index(pod)

    def container(self, index: int) -> Container:
        container = docker_objects.node_containers(self.client, self.project)[index]
        if container is None:
            pod = self.project.names.pod(index)
            raise CourtyardError(f"{pod} has no container; run `invoke up` to recreate it")
        return container

    # Break ------------------------------------------------------------------------------
    def apply(self, kind: str, target: Target, slow: SlowLink | None = None) -> Fault:
        """Apply fault `kind` to the node `target` names; returns once the fault shows."""
        check_kind(kind)
        if kind == "slow":
            slow = slow or SlowLink()
            slow.check()
        if kind in ("partition", "isolate-clients", "slow"):
            reason = link_faults.unavailable_reason()
            if reason:
                raise link_faults.LinkFaultUnavailable(reason)
        started = time.monotonic()
        index = self.resolve(target)
        pod = self.project.names.pod(index)
        if index in self.down:
            raise CourtyardError(f"{pod} is already down; start it before breaking it again")
        container = self.container(index)
        if container.status != "running":
            raise CourtyardError(f"{pod} is {container.status}, not running; run `invoke up` first")
        self.before_break()
        try:
            detail = self._break(kind, index, container, slow)
        except BaseException:
            # Nothing half-done, also when interrupted: what took hold is taken off again.
            self._unbreak(kind, index, container)
            raise
        fault = Fault(kind, index, pod, detail, took=time.monotonic() - started)
        self.active.append(fault)
        return fault

    def _break(self, kind: str, index: int, container: Container, slow: SlowLink | None) -> str:
        network = self.project.names.network
        if kind == "partition":
            detail = link_faults.partition(container, network)
            self._wait_cut_off(index)
            return detail
        if kind == "isolate-clients":
            return link_faults.isolate_clients(container, self.project.spec.ports.client)
        if kind == "slow":
            assert slow is not None
            done = []
            if slow.loss:
                done.append(
                    link_faults.lose(
                        container, network, self.project.spec.ports.client, slow.loss, slow.towards
                    )
                )
            if slow.delay_ms:
                done.append(link_faults.delay(container, network, slow.delay_ms, slow.jitter_ms))
            return "; ".join(done)
        if kind == "pause":
            container.pause()
            return "paused (every process frozen, connections held open)"
        self.down.add(index)
        if kind == "kill":
            container.kill()
            _wait_exited(container, KILL_TIMEOUT)
            return "killed (SIGKILL)"
        started = time.monotonic()
        container.kill(signal="SIGUSR2")  # nats-server's lame duck mode, as the chart's preStop
        if not _wait_exited(container, LAME_DUCK_TIMEOUT):
            container.kill()
            _wait_exited(container, KILL_TIMEOUT)
            return f"lame duck mode did not end within {LAME_DUCK_TIMEOUT:.0f}s, then killed"
        return f"stopped after lame duck mode ({time.monotonic() - started:.1f}s)"

    def _wait_cut_off(self, index: int) -> None:
        names = self.project.names
        pod, port = names.monitor_targets[index]
        others = [
            t for i, t in enumerate(names.monitor_targets) if i != index and i not in self.down
        ]

        def routes_left() -> list[str]:
            left = [f"{pod} → {peer}" for peer in sorted(monitor.peers_of(port))]
            left += [f"{other} → {pod}" for other, p in others if pod in monitor.peers_of(p)]
            return left

        try:
            poll(
                routes_left,
                what=f"{pod}'s routes to end",
                timeout=TAKE_HOLD_TIMEOUT,
                interval=0.1,
                done=lambda left: not left,
            )
        except WaitTimeout as exc:
            raise CourtyardError(
                f"{pod} was cut off but routes remain after {TAKE_HOLD_TIMEOUT:.0f}s ({exc})"
            ) from None

    # Heal -------------------------------------------------------------------------------
    def heal(self, fault: Fault, timeout: float = HEAL_TIMEOUT) -> float:
        """Undo `fault` and wait until the cluster is ready again; the seconds that took."""
        started = time.monotonic()
        self.undo(fault)
        self.wait_ready(timeout)
        fault.healed_in = time.monotonic() - started
        return fault.healed_in

    def undo(self, fault: Fault) -> None:
        """Take `fault` off its node, all of it: a Ctrl-C or SIGTERM meanwhile waits until
        it is off (then raises), so no interrupt leaves half a fault behind."""
        self._unbreak(fault.kind, fault.node, self.container(fault.node))
        if fault in self.active:
            self.active.remove(fault)

    def _unbreak(self, kind: str, index: int, container: Container) -> None:
        with deferred_interrupt():
            if kind in ("partition", "isolate-clients", "slow"):
                link_faults.heal(container)
                return
            container.reload()
            if kind == "pause":
                if container.status == "paused":
                    container.unpause()
                return
            if container.status != "running":
                container.start()
            self.down.discard(index)

    def heal_all(self, timeout: float = HEAL_TIMEOUT) -> list[str]:
        """Heal every fault the nodes show (this injector's and leftovers of an earlier run):
        link faults removed, paused nodes resumed, the nodes down on purpose (`down`: killed,
        stopped, or stopped by the plugin's `stop_node`) started; then one readiness wait.
        What it healed, one entry per node."""
        healed = []
        restart = set(self.down)
        for index, container in enumerate(
            docker_objects.node_containers(self.client, self.project)
        ):
            if container is None:
                continue
            done = link_faults.heal(container)
            if container.status == "paused":
                container.unpause()
                done.append("pause")
            if index in restart:
                if container.status != "running":
                    container.start()
                    done.append("started")
                self.down.discard(index)
            if done:
                healed.append(f"{self.project.names.pod(index)}: {', '.join(done)}")
        self.active.clear()
        if healed:
            self.wait_ready(timeout)
        return healed

    def wait_ready(self, timeout: float = HEAL_TIMEOUT) -> str:
        targets = [
            t for i, t in enumerate(self.project.names.monitor_targets) if i not in self.down
        ]
        return wait_ready(self.client, self.project, targets, timeout)

    @contextlib.contextmanager
    def holding(
        self, kind: str, target: Target, slow: SlowLink | None = None, timeout: float = HEAL_TIMEOUT
    ) -> Iterator[Fault]:
        """The fault for the `with` block, healed at its end (also when the block fails)."""
        fault = self.apply(kind, target, slow)
        try:
            yield fault
        finally:
            self.heal(fault, timeout)


def _wait_exited(container: Container, timeout: float) -> bool:
    """Whether the container's process ended within `timeout`."""

    def status() -> str:
        container.reload()
        return container.status

    try:
        poll(
            status,
            what=f"{container.name} to exit",
            timeout=timeout,
            interval=0.1,
            done=lambda now: now not in ("running", "paused", "restarting"),
        )
    except WaitTimeout:
        return False
    return True

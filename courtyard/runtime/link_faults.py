"""Faults on a node's network links, made inside the node's own network namespace.

A node container holds nothing but nats-server, so the host's tools do the work: `nsenter`
enters the node's network namespace (root only) and runs `iptables`, `ss` and `tc` there.
Nothing outside that namespace changes, and the namespace ends with the container, so a
restarted node never carries a fault.

Each fault is one iptables chain of its own, `COURTYARD-<KIND>`, jumped to from INPUT and
OUTPUT; the chains that exist are the faults applied, whoever applied them and whenever, so
`invoke up` and the end of a test session find and heal leftovers without any record:

- partition: every TCP packet to or from another address of the cluster's network is
  answered with a reset, everything else from them dropped; the network's gateway (the way
  published ports reach the node from 127.0.0.1) stays open, so clients connected to the
  node stay connected to a node that has lost its peers. Routes the node holds are closed
  at once; the peers lose theirs on their next packet (a Raft heartbeat, within a second).
- isolate-clients: the client port answers with a reset and the node's client connections
  are closed; routes and the monitoring port stay.
- loss: a random share of packets towards peers, clients (the client port) or all is
  dropped, each way; monitoring stays reachable unless it is all.
- latency (delay and jitter) needs the kernel's netem queueing discipline on the node's
  interface; a kernel without it gets one sentence saying so.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass

from docker.models.containers import Container

from courtyard.core.errors import CourtyardError
from courtyard.core.interrupts import deferred_interrupt

CHAIN_PREFIX = "COURTYARD-"
PARTITION = "partition"
ISOLATE_CLIENTS = "isolate-clients"
LOSS = "loss"
LATENCY = "latency"
CHAIN_KINDS = (PARTITION, ISOLATE_CLIENTS, LOSS)
TOWARDS = ("peers", "clients", "all")
TOOLS = ("nsenter", "iptables", "ss", "tc", "ip")
COMMAND_TIMEOUT = 10.0


class LinkFaultUnavailable(CourtyardError):
    """This host cannot change a node's links; the sentence says why."""


@dataclass(frozen=True)
class Endpoint:
    """Where the node sits on the cluster's network."""

    address: str
    network: str  # the network's subnet, e.g. 172.18.0.0/16
    gateway: str  # the bridge's address: where published ports come from


def unavailable_reason() -> str | None:
    """Why this host cannot change a node's links (not root, a tool missing); None if it can."""
    if os.geteuid() != 0:
        return (
            "changing a node's network links needs root: the node's network namespace is "
            "entered with nsenter (run the tests or the task as root)"
        )
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"changing a node's network links needs {', '.join(missing)} on this host"
    return None


def _require_host() -> None:
    reason = unavailable_reason()
    if reason:
        raise LinkFaultUnavailable(reason)


def _run(container: Container, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `argv` in the container's network namespace."""
    pid = (container.attrs.get("State") or {}).get("Pid") or 0
    if not pid:
        raise CourtyardError(f"{container.name} is not running; its links cannot be changed")
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *argv],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CourtyardError(f"{' '.join(argv[:2])} in {container.name} failed: {why[0]}")
    return done


def endpoint(container: Container, network: str) -> Endpoint:
    """The node's address, subnet and gateway on `network`."""
    container.reload()
    found = ((container.attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(network)
    if not found or not found.get("IPAddress"):
        raise CourtyardError(
            f"{container.name} is not on network {network}; run `invoke up` to reconnect it"
        )
    interface = ipaddress.ip_interface(f"{found['IPAddress']}/{found.get('IPPrefixLen') or 32}")
    return Endpoint(str(interface.ip), str(interface.network), found.get("Gateway") or "")


def _chain(kind: str) -> str:
    return f"{CHAIN_PREFIX}{kind.upper()}"


def _install(container: Container, kind: str, rules: list[list[str]]) -> None:
    """The chain of `kind` with `rules`, hooked first into INPUT and OUTPUT: one fault of a
    kind at a time (a second one of the same kind replaces the first)."""
    _require_host()
    with deferred_interrupt():  # a Ctrl-C waits: a chain is all there or not at all
        heal(container, [kind])
        chain = _chain(kind)
        _run(container, "iptables", "-w", "-N", chain)
        try:
            # A reset always passes (the node's own when a connection is closed, or
            # REJECT's): it tells the other end, a peer or a client, its connection is gone.
            for rule in [["-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "RETURN"], *rules]:
                _run(container, "iptables", "-w", "-A", chain, *rule)
            for hook in ("INPUT", "OUTPUT"):
                _run(container, "iptables", "-w", "-I", hook, "1", "-j", chain)
        except BaseException:
            heal(container, [kind])  # nothing half-done
            raise


def _peers_only(where: Endpoint, *actions: list[str]) -> list[list[str]]:
    """Each of `actions` in turn for packets between the node and any other address of its
    network (itself included), but not the gateway."""
    keep = [["-s", where.gateway, "-j", "RETURN"], ["-d", where.gateway, "-j", "RETURN"]]
    rules = keep if where.gateway else []
    for action in actions:
        rules += [["-s", where.network, *action], ["-d", where.network, *action]]
    return rules


def partition(container: Container, network: str) -> str:
    """Cut the node off from every peer; its clients stay connected."""
    where = endpoint(container, network)
    reset = ["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]
    rules = _peers_only(where, reset, ["-j", "DROP"])
    _install(container, PARTITION, rules)
    # Routes the node holds end now, not at its next write.
    _kill_sockets(
        container, f"dst {where.network}", f"dst {where.gateway}" if where.gateway else ""
    )
    return f"cut off from its peers on {where.network} (clients via {where.gateway} kept)"


def isolate_clients(container: Container, client_port: int) -> str:
    """Refuse and close the node's client connections; routes and monitoring stay."""
    reset = ["-j", "REJECT", "--reject-with", "tcp-reset"]
    port = str(client_port)
    _install(
        container,
        ISOLATE_CLIENTS,
        [["-p", "tcp", "--dport", port, *reset], ["-p", "tcp", "--sport", port, *reset]],
    )
    _kill_sockets(container, f"sport = :{port}")
    return f"client port {port} refused, its connections closed (routes kept)"


def lose(
    container: Container, network: str, client_port: int, percent: float, towards: str = "all"
) -> str:
    """Drop `percent` % of packets towards `towards`, each way: peers (the network but its
    gateway), clients (the client port) or all."""
    if not 0 < percent <= 100:
        raise CourtyardError(f"loss must be more than 0 and at most 100 percent, not {percent}")
    if towards not in TOWARDS:
        raise CourtyardError(f"towards must be one of {', '.join(TOWARDS)}, not {towards!r}")
    where = endpoint(container, network)
    drop = ["-m", "statistic", "--mode", "random", "--probability", f"{percent / 100:.4f}"]
    drop += ["-j", "DROP"]
    if towards == "peers":
        rules = _peers_only(where, drop)
    elif towards == "clients":
        port = str(client_port)
        rules = [["-p", "tcp", "--dport", port, *drop], ["-p", "tcp", "--sport", port, *drop]]
    else:
        rules = [drop]
    _install(container, LOSS, rules)
    return f"{percent:g}% of packets towards {towards} dropped, each way"


def delay(container: Container, network: str, delay_ms: float, jitter_ms: float = 0.0) -> str:
    """Add `delay_ms` (± `jitter_ms`) to everything the node sends, with netem."""
    if delay_ms <= 0 or jitter_ms < 0:
        raise CourtyardError("delay must be more than 0 ms and jitter 0 ms or more")
    _require_host()
    device = _device(container, network)
    heal(container, [LATENCY])
    added = _run(
        container,
        "tc", "qdisc", "add", "dev", device, "root", "netem",
        "delay", f"{delay_ms:g}ms", *([f"{jitter_ms:g}ms"] if jitter_ms else []),
        check=False,
    )  # fmt: skip
    if added.returncode != 0:
        if "unknown" in added.stderr.lower():
            raise LinkFaultUnavailable(
                "this kernel has no netem queueing discipline (sch_netem), so latency and "
                "jitter cannot be added; loss works without it (iptables)"
            )
        raise CourtyardError(f"tc netem in {container.name} failed: {added.stderr.strip()}")
    return f"{delay_ms:g} ms{f' ± {jitter_ms:g} ms' if jitter_ms else ''} added to all it sends"


def applied(container: Container) -> list[str]:
    """The link faults the node has now (none when this host cannot look)."""
    if container.status not in ("running", "paused") or unavailable_reason():
        return []
    listed = _run(container, "iptables", "-w", "-S", check=False).stdout
    kinds = [k for k in CHAIN_KINDS if f"-N {_chain(k)}" in listed.splitlines()]
    qdiscs = _run(container, "tc", "qdisc", "show", check=False).stdout
    return kinds + ([LATENCY] if " netem " in qdiscs else [])


def heal(container: Container, kinds: list[str] | None = None) -> list[str]:
    """Remove the link faults of `kinds` (all when None); those that were there. A Ctrl-C
    or SIGTERM meanwhile waits until every one is gone."""
    with deferred_interrupt():
        return _remove(container, kinds)


def _remove(container: Container, kinds: list[str] | None) -> list[str]:
    present = applied(container)
    healed = [k for k in present if kinds is None or k in kinds]
    for kind in healed:
        if kind == LATENCY:
            for line in _run(container, "tc", "qdisc", "show", check=False).stdout.splitlines():
                parts = line.split()
                if len(parts) > 4 and parts[1] == "netem" and "root" in parts:
                    _run(container, "tc", "qdisc", "del", "dev", parts[4], "root", check=False)
            continue
        chain = _chain(kind)
        for hook in ("INPUT", "OUTPUT"):
            while (
                _run(container, "iptables", "-w", "-D", hook, "-j", chain, check=False).returncode
                == 0
            ):
                pass
        _run(container, "iptables", "-w", "-F", chain)
        _run(container, "iptables", "-w", "-X", chain)
    return healed


def _kill_sockets(container: Container, match: str, unless: str = "") -> None:
    """Close the node's TCP connections matching the ss filter `match` (but not `unless`)."""
    expression = f"( {match} )" + (f" and not ( {unless} )" if unless else "")
    _run(container, "ss", "-K", "-t", "state", "established", *expression.split(), check=False)


def _device(container: Container, network: str) -> str:
    """The node's interface on `network`."""
    address = endpoint(container, network).address
    shown = _run(container, "ip", "-o", "-4", "addr", "show", "to", address).stdout.split()
    if len(shown) < 2:
        raise CourtyardError(f"{container.name} has no interface with address {address}")
    return shown[1].split("@")[0]

"""Where Courtyard keeps its generated files on the host, below the project folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def owner_file(self) -> Path:
        """A throw-away project's owner: the process that made it (pid, start, host)."""
        return self.root / ".courtyard-owner"

    @property
    def ca_cert(self) -> Path:
        return self.certs / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.certs / "ca.key"

    @property
    def ca_bundle(self) -> Path:
        """What clients trust: `ca.crt`, plus the other CA while a CA rotation runs."""
        return self.certs / "ca-bundle.crt"

    @property
    def rotation(self) -> Path:
        """A CA rotation's state and CAs, while one runs."""
        return self.certs / "rotation"

    @property
    def also_trusted(self) -> Path:
        """The other CA nodes and clients trust during a rotation (old or new)."""
        return self.rotation / "also-trusted.crt"

    @property
    def reserved_cert_names(self) -> tuple[str, ...]:
        """Names in certs/ that `invoke cert -o` may not take: the CA, its trust bundle and
        the spec's own route and server certificates."""
        return (self.ca_cert.stem, self.ca_bundle.stem, "route", "server")

    def cert(self, base: str) -> Path:
        """`certs/<base>.crt`; base is route, server or an ad-hoc name."""
        return self.certs / f"{base}.crt"

    def key(self, base: str) -> Path:
        return self.certs / f"{base}.key"

    def client_cert(self, identity: str) -> Path:
        return self.certs / "clients" / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.certs / "clients" / f"{identity}.key"

    @property
    def nodes(self) -> Path:
        return self.root / "config" / "nodes"

    def node_config(self, pod: str) -> Path:
        return self.nodes / f"{pod}.conf"

    @property
    def run(self) -> Path:
        """What running nodes mount that is not generated config: Courtyard keeps it."""
        return self.root / "run"

    @property
    def secrets(self) -> Path:
        """The host folders fed to the nodes' certificate mounts, one per Secret."""
        return self.run / "secrets"

    @property
    def forgotten_peers(self) -> Path:
        """The nodes `up --forget-departed` removed from the JetStream meta group: they cannot
        rejoin it (nats-server disables JetStream on a removed server that returns)."""
        return self.run / "forgotten-peers.json"

    @property
    def session_marks(self) -> Path:
        """One file per test session that may be breaking the cluster (faults, stopped
        nodes): its process, so the next session knows a dead one's leftovers."""
        return self.run / "sessions"

    def session_mark(self, pid: int) -> Path:
        return self.session_marks / f"{pid}.json"

    def lock_file(self, cluster: str) -> Path:
        """Held by every task that changes the cluster's Docker objects or files."""
        return self.run / "locks" / f"{cluster}.lock"

    def config_digest(self, pod: str) -> Path:
        """The config digest node `pod` reported when `up` last started it."""
        return self.run / pod / "config-digest"

    def secrets_digest(self, pod: str) -> Path:
        """What node `pod` loaded from its certificate folders when it last (re)read them."""
        return self.run / pod / "secrets-digest"

    def node_config_mount(self, pod: str) -> Path:
        """The folder mounted at the chart's config folder: a copy of the node's config, or,
        for a moment during a cold start, its start gate."""
        return self.run / pod / "nats-config"

    @property
    def helm_out(self) -> Path:
        return self.root / "dist" / "helm"

    @property
    def helm_upgrade_out(self) -> Path:
        """Where `export-helm --upgrade-from legacy` writes: beside, never over, the 0.x export."""
        return self.root / "dist" / "helm-upgrade"

    @property
    def compose_dir(self) -> Path:
        return self.root / "compose"

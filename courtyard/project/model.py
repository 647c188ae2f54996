"""The cluster spec as frozen dataclasses: what `config/courtyard.yaml` says, validated.

`courtyard.project.load` reads and validates the file; everything else reads these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from courtyard.project.sans import San
from courtyard.project.sizes import parse_size


@dataclass(frozen=True)
class JetStream:
    memory_store: str
    file_store: str

    @property
    def memory_store_bytes(self) -> int:
        return parse_size(self.memory_store)

    @property
    def file_store_bytes(self) -> int:
        return parse_size(self.file_store)


@dataclass(frozen=True)
class Ports:
    """Ports inside each node (and each Kubernetes pod)."""

    client: int = 4222
    cluster: int = 6222
    monitor: int = 8222


@dataclass(frozen=True)
class HostPorts:
    """First host port on 127.0.0.1; node i publishes on base + i."""

    client: int = 4222
    monitor: int = 8222
    cluster: int = 6222  # the route port, published to read the route certificate it serves


@dataclass(frozen=True)
class Subject:
    common_name: str = "Skunkwolf NATS"
    organization: str = "Skunkwolf"
    organizational_unit: str = "Platform"


@dataclass(frozen=True)
class TeamLimits:
    """What a team's account may hold, as the spec gives it under `limits:`; None: the
    default (`courtyard.project.limits` resolves them all in one place)."""

    memory: str | None = None  # JetStream memory, every replica counted
    file: str | None = None  # JetStream file storage, likewise
    streams: int | None = None
    consumers: int | None = None
    connections: int | None = None


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate and what it may do. A plain name in the spec is an admin
    (full access); a mapping is restricted to the subjects, streams and buckets it lists;
    a mapping with `system: true` is an operator of the servers, a user of the system
    account ($SYS requests: server list, ping, reports), and of nothing else."""

    name: str
    restricted: bool = False
    system: bool = False
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    limits: TeamLimits = field(default_factory=TeamLimits)


@dataclass(frozen=True)
class Tls:
    subject: Subject
    ca_validity_days: int
    cert_validity_days: int
    extra_sans: tuple[San, ...]
    clients: tuple[ClientIdentity, ...]

    @property
    def client_names(self) -> tuple[str, ...]:
        return tuple(client.name for client in self.clients)

    @property
    def system_identities(self) -> tuple[ClientIdentity, ...]:
        return tuple(client for client in self.clients if client.system)

    @property
    def team_identities(self) -> tuple[ClientIdentity, ...]:
        """The restricted identities: each is a team with an account of its own."""
        return tuple(client for client in self.clients if client.restricted)

    @property
    def admin_identities(self) -> tuple[ClientIdentity, ...]:
        """Full access to the application, and nothing of the system account."""
        return tuple(c for c in self.clients if not c.restricted and not c.system)


@dataclass(frozen=True)
class Spec:
    path: Path
    release: str
    namespace: str
    cluster_domain: str
    fullname_override: str | None
    cluster_name: str | None
    replicas: int
    image: str | None
    use_fqdn: bool
    chart_layout: str
    jetstream: JetStream
    ports: Ports
    host_ports: HostPorts
    tls: Tls
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def root(self) -> Path:
        """The project folder: the parent of `config/` when the spec lives there."""
        folder = self.path.parent
        return folder.parent if folder.name == "config" else folder

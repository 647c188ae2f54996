"""Every name of the cluster, derived exactly as the official nats/nats Helm chart derives it.

Certificates, node configs, Docker containers, networks, volumes and labels, host ports and
client URLs, image tags, mount paths and the Helm export all take their names from here; no
other module spells a name (tests/unit/test_architecture.py checks). The chart's rules
(helm/charts/nats,
templates/_helpers.tpl and files/config/cluster.yaml):

- fullname: fullnameOverride, else the release name when it contains the chart name
  ("nats"), else "<release>-nats"; truncated to 63 characters, trailing "-" trimmed.
- StatefulSet and client Service: the fullname; headless Service: "<fullname>-headless".
- pods "<fullname>-<i>"; route URLs "tls://<pod>.<headless>:<cluster port>", with
  ".<namespace>.svc.<cluster domain>" appended to the host when routeURLs.useFQDN.
- cluster name: the StatefulSet name.

The legacy 0.x chart differs: the headless Service is the fullname itself, routes are
"nats://<pod>.<fullname>.<namespace>.svc.<domain>:6222", the cluster name defaults to the
chart name ("nats") and the JetStream PVC is "<fullname>-js-pvc".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from courtyard.core.errors import CourtyardError, SpecError
from courtyard.project.model import Spec
from courtyard.project.sans import San, dns
from courtyard.project.server import server_version

T = TypeVar("T")

# Kubernetes' rule for a namespace, and the spec's for a release (Helm's own allows dots,
# which no Courtyard name may carry): a DNS-1123 label.
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_RULE = (
    "a DNS-1123 name (lowercase letters, digits and -, starting and ending with a letter or "
    "digit, at most 63)"
)


def is_dns_label(value: object) -> bool:
    """Whether `value` is a DNS-1123 label: a release, namespace or identity name."""
    return isinstance(value, str) and _DNS1123_LABEL.match(value) is not None


CHART_NAME = "nats"
# Everything Courtyard makes in Docker (networks, Compose projects, CLI contexts) starts so.
PREFIX = "courtyard"
# Courtyard's own client identity (readiness, status, smoke): full access, never in a spec.
RESERVED_IDENTITY = PREFIX
# The system account (nats-server's default name: nodes with and without users agree).
SYSTEM_ACCOUNT = "$SYS"
# nats-server's global account: the users' account when the spec has no teams.
GLOBAL_ACCOUNT = "$G"
# When the spec has restricted identities, each is a team with an account of its own (its
# JetStream included), and the admins and Courtyard share this one: the global account can
# neither export nor import, so the teams' bridges need a named account at the other end.
SHARED_ACCOUNT = "APP"
# The bridges between a team's account and the shared one carry each subject under a
# prefix of their own, so that a team's publish reaches its own subscribers only after it
# went through APP (once), never directly as well: the team's account maps what its user
# publishes to `_CY.out.<subject>`, APP receives it as `_CY.in.<team>.<subject>` and maps it
# back, and what APP passes down to a team arrives as `_CY.down.<subject>`, mapped back in
# the team's account. No client sees these subjects, and none may publish to them.
BRIDGE_PREFIX = "_CY"

# Label keys on Docker objects. Courtyard touches nothing without MANAGED_LABEL and its
# cluster's CLUSTER_LABEL.
LABEL_PREFIX = "io.skunkwolf.courtyard"
MANAGED_LABEL = f"{LABEL_PREFIX}.managed"
CLUSTER_LABEL = f"{LABEL_PREFIX}.cluster"
NODE_LABEL = f"{LABEL_PREFIX}.node"
SPEC_LABEL = f"{LABEL_PREFIX}.spec"
HASH_LABEL = f"{LABEL_PREFIX}.config-hash"  # the node fingerprint a container was made from
ROLE_LABEL = f"{LABEL_PREFIX}.role"  # set on short-lived probe nodes
CREATED_BY_LABEL = f"{LABEL_PREFIX}.created-by"  # "compose" on the exported Compose services
VERSION_LABEL = f"{LABEL_PREFIX}.nats-server-version"  # on the locally built image
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"  # Docker Compose's own label
# On the exported Kubernetes Secrets.
K8S_MANAGED_BY = {"app.kubernetes.io/managed-by": PREFIX}

# Where the chart mounts things inside the pod; the local containers mount the same paths,
# so a node config reads the same locally and in Kubernetes.
CONFIG_DIR = "/etc/nats-config"
CONFIG_FILE = f"{CONFIG_DIR}/nats.conf"
CA_DIR = "/etc/nats-ca-cert"
CA_FILE = f"{CA_DIR}/ca.crt"
CLIENT_TLS_DIR = "/etc/nats-certs/nats"
ROUTE_TLS_DIR = "/etc/nats-certs/cluster"
TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"
CLIENT_CERT_FILE = f"{CLIENT_TLS_DIR}/{TLS_CERT}"
CLIENT_KEY_FILE = f"{CLIENT_TLS_DIR}/{TLS_KEY}"
ROUTE_CERT_FILE = f"{ROUTE_TLS_DIR}/{TLS_CERT}"
ROUTE_KEY_FILE = f"{ROUTE_TLS_DIR}/{TLS_KEY}"
STORE_DIR = "/data"
# A probe node (a short-lived extra nats-server) reads its own files from here.
PROBE_DIR = "/probe"
PROBE_CONFIG_FILE = f"{PROBE_DIR}/nats.conf"
PROBE_CERT_FILE = f"{PROBE_DIR}/route.crt"
PROBE_KEY_FILE = f"{PROBE_DIR}/route.key"
PROBE_CA_FILE = f"{PROBE_DIR}/ca.crt"
# The node image runs nats-server with the chart's config path.
ENTRYPOINT = ("nats-server",)
COMMAND = ("--config", CONFIG_FILE)


# Suffixes the chart and Courtyard give a release's objects: read back by import-helm.
# A cluster of its own on the host (tests, benchmarks, a service's throw-away hub): one block
# of host ports from a base, each kind of port `replicas` wide, in this order.
HOST_PORT_KINDS = ("client", "monitor", "cluster")


def cluster_selector(fullname: str) -> dict[str, list[str]]:
    """A Docker list filter for every object carrying cluster `fullname`'s label."""
    return {"label": [f"{CLUSTER_LABEL}={fullname}"]}


# The release prefix of the pytest plugin's throw-away clusters (`courtyard-pytest-<hex>`).
PYTEST_RELEASE_PREFIX = f"{PREFIX}-pytest"

# Any object of any Courtyard cluster (to find throw-away clusters an ended session left).
ANY_CLUSTER_SELECTOR = {"label": [CLUSTER_LABEL]}


def is_throwaway(fullname: str, prefix: str) -> bool:
    """Whether `fullname` is a throw-away cluster's made with `prefix` (`<prefix>-<6 hex>`)."""
    return re.fullmatch(rf"{re.escape(prefix)}-[0-9a-f]{{6}}(-.*)?", fullname) is not None


def host_ports_needed(replicas: int) -> int:
    """How many host ports in a row a cluster of `replicas` nodes publishes."""
    return len(HOST_PORT_KINDS) * replicas


def host_port_block(base: int, replicas: int) -> dict[str, int]:
    """The spec's `host_ports` for a cluster whose ports start at `base`: client, monitor and
    cluster ports each `replicas` wide, one after the other."""
    return {kind: base + i * replicas for i, kind in enumerate(HOST_PORT_KINDS)}


# The 0.x chart includes each `nats.config` entry NAME as ./NAME/NAME.conf, mounted from its
# volume at /etc/nats-config/NAME: the accounts (the teams', the shared one, the system
# account's users) come in that way.
ACCOUNTS_CONFIG = "accounts-config"
ACCOUNTS_CONFIG_FILE = f"{ACCOUNTS_CONFIG}.conf"

HEADLESS_SUFFIX = "-headless"
SECRET_SUFFIXES = ("-route-tls", "-server-tls", "-tls", "-ca")


def fullname_of(object_name: str, kind: str) -> str | None:
    """The fullname a Service or Secret of a release most likely belongs to, from its name
    (a headless Service `<fullname>-headless`, a Secret `<fullname>-route-tls`...)."""
    if kind == "Service":
        return object_name.removesuffix(HEADLESS_SUFFIX)
    for suffix in SECRET_SUFFIXES:
        if object_name.endswith(suffix):
            return object_name.removesuffix(suffix)
    return None


def official_image(version: str | None = None) -> str:
    """The official image of the pinned nats-server, as the chart deploys it."""
    return f"nats:{version or server_version()}-alpine"


def local_image(version: str | None = None) -> str:
    """The image Courtyard builds FROM scratch when the official one cannot be had."""
    return f"{PREFIX}/nats-server:{version or server_version()}"


# nats-server names a server's Raft peer by a hash of its server name (`getHash` in
# server/events.go: sha256, the first 8 bytes each as a base-62 digit).
_PEER_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def peer_id(server_name: str) -> str:
    """The Raft peer id nats-server gives the server named `server_name` (its "Node:")."""
    digest = hashlib.sha256(server_name.encode()).digest()
    return "".join(_PEER_ID_DIGITS[byte % len(_PEER_ID_DIGITS)] for byte in digest[:8])


def monitor_url(port: int, path: str = "") -> str:
    """A node's monitoring port published on the host (plain HTTP, 127.0.0.1 only)."""
    return f"http://127.0.0.1:{port}{path}"


def localhost_url(port: int) -> str:
    """A node's client port published on the host: TLS, named localhost (the server
    certificate covers it, so host-name verification stays on)."""
    return f"tls://localhost:{port}"


def team_account(identity: str) -> str:
    """The account of a restricted identity (a team): its name. Identity names are
    lower-case DNS labels, so none is `APP` or `$SYS`."""
    return identity


def bridge_out(subject: str) -> str:
    """In a team's account: what its user publishes on `subject` becomes this, the one
    subject its service import to APP listens on."""
    return f"{BRIDGE_PREFIX}.out.{subject}"


def bridge_in(team: str, subject: str) -> str:
    """In APP: the subject a team's publish on `subject` arrives on (mapped back there)."""
    return f"{BRIDGE_PREFIX}.in.{team}.{subject}"


def bridge_down(subject: str) -> str:
    """In a team's account: what APP passes down on `subject` arrives on this (mapped back
    there), so it never meets the team's own outgoing mapping."""
    return f"{BRIDGE_PREFIX}.down.{subject}"


def inbox_prefix(identity: str) -> str:
    """A restricted identity's reply subjects: `_INBOX_<name>.>` is all it may subscribe to
    beyond its own subjects, so it never sees another client's replies."""
    return f"_INBOX_{identity}"


def connection_name(role: str = "") -> str:
    """The name a Courtyard client gives its NATS connection (seen in /connz)."""
    return f"{PREFIX}-{role}" if role else PREFIX


def _chart_trunc(name: str) -> str:
    return name[:63].rstrip("-")


def chart_fullname(release: str, fullname_override: str | None = None) -> str:
    """The chart's nats.fullname."""
    if fullname_override:
        return _chart_trunc(fullname_override)
    if CHART_NAME in release:
        return _chart_trunc(release)
    return _chart_trunc(f"{release}-{CHART_NAME}")


@dataclass(frozen=True)
class ClusterNames:
    """Names of one cluster; build it with `names_for(spec)`."""

    fullname: str
    namespace: str
    cluster_domain: str
    replicas: int
    cluster_port: int
    use_fqdn: bool
    layout: str
    cluster_name: str
    client_host_base: int
    monitor_host_base: int
    cluster_host_base: int
    identities: tuple[str, ...]
    system_identities: tuple[str, ...] = ()
    extra_sans: tuple[San, ...] = ()

    # Kubernetes objects -------------------------------------------------------------------
    @property
    def statefulset(self) -> str:
        return self.fullname

    @property
    def client_service(self) -> str:
        return self.fullname

    @property
    def headless(self) -> str:
        return self.fullname if self.layout == "legacy" else f"{self.fullname}{HEADLESS_SUFFIX}"

    @property
    def chart_default_cluster_name(self) -> str:
        """The cluster name the chart renders when the values name none: the StatefulSet
        on the current chart, the chart's own name ("nats") on 0.x."""
        return CHART_NAME if self.layout == "legacy" else self.statefulset

    @property
    def pvc_name(self) -> str:
        """The JetStream volumeClaimTemplate: "<fullname>-js", "<fullname>-js-pvc" on 0.x
        (an upgraded release keeps it, so its pods keep their data)."""
        return f"{self.fullname}-js-pvc" if self.layout == "legacy" else f"{self.fullname}-js"

    @property
    def upgraded_client_service(self) -> str:
        """The ClusterIP Service a 0.x release gets when upgraded in place: the chart's
        UPGRADING.md names it "<fullname>-svc", since the headless Service keeps the fullname."""
        return f"{self.fullname}-svc"

    @property
    def route_secret(self) -> str:
        return f"{self.fullname}-route-tls"

    @property
    def client_secret(self) -> str:
        return f"{self.fullname}-server-tls"

    @property
    def ca_secret(self) -> str:
        return f"{self.fullname}-ca"

    @property
    def accounts_secret(self) -> str:
        """The 0.x chart's extra config (`nats.config`) that declares the accounts and their
        users: that chart has no other place for them."""
        return f"{self.fullname}-{ACCOUNTS_CONFIG}"

    @property
    def svc_suffix(self) -> str:
        return f"{self.namespace}.svc.{self.cluster_domain}"

    def fqdn(self, host: str) -> str:
        return f"{host}.{self.svc_suffix}"

    @property
    def pods(self) -> list[str]:
        return [self.pod(i) for i in range(self.replicas)]

    def pod(self, index: int) -> str:
        return f"{self.statefulset}-{index}"

    def index_of(self, node: int | str) -> int:
        """The index of the node a user named: an index (as a number or digits) or its pod
        (server) name; one sentence when there is no such node."""
        if isinstance(node, bool):  # a bool is an int to Python, never a node to a user
            raise CourtyardError(f"a node is an index, a server name or a role, not {node!r}")
        if isinstance(node, str) and node.isdigit():
            node = int(node)
        if isinstance(node, int):
            if not 0 <= node < self.replicas:
                raise CourtyardError(
                    f"there is no node {node}; cluster {self.fullname} has nodes 0 to "
                    f"{self.replicas - 1}"
                )
            return node
        if node not in self.pods:
            raise CourtyardError(
                f"no node is named {node!r}; cluster {self.fullname} has {', '.join(self.pods)}"
            )
        return self.pods.index(node)

    def pod_host(self, index: int) -> str:
        """`<pod>.<headless>`: what the chart's route URLs name without useFQDN."""
        return f"{self.pod(index)}.{self.headless}"

    def pod_fqdn(self, index: int) -> str:
        return self.fqdn(self.pod_host(index))

    # Routes ---------------------------------------------------------------------------------
    def route_host(self, index: int) -> str:
        return self.pod_fqdn(index) if self.use_fqdn else self.pod_host(index)

    @property
    def route_urls(self) -> list[str]:
        """The route URLs the chart renders into every node's `cluster.routes`."""
        if self.layout == "legacy":
            return [
                f"nats://{self.legacy_route_host(i)}:{self.cluster_port}"
                for i in range(self.replicas)
            ]
        return [f"tls://{self.route_host(i)}:{self.cluster_port}" for i in range(self.replicas)]

    def legacy_route_host(self, index: int) -> str:
        return self.fqdn(f"{self.pod(index)}.{self.fullname}")

    # Certificate SANs -----------------------------------------------------------------------
    @cached_property
    def route_sans(self) -> list[San]:
        """Every host a route may dial, for either useFQDN setting (and the legacy hosts)."""
        names = [f"*.{self.headless}", self.fqdn(f"*.{self.headless}")]
        for i in range(self.replicas):
            names += [self.pod_host(i), self.pod_fqdn(i)]
        if self.layout == "legacy":
            names += [self.fqdn(f"*.{self.fullname}")]
            names += [self.legacy_route_host(i) for i in range(self.replicas)]
        return _unique([dns(name) for name in names])

    @cached_property
    def server_sans(self) -> list[San]:
        """Every name a client may connect by: services, pods, localhost, extra SANs."""
        names = [self.client_service, self.fqdn(self.client_service)]
        for i in range(self.replicas):
            names += [self.pod(i), self.pod_host(i), self.pod_fqdn(i)]
        if self.layout == "legacy":  # after an upgrade to the current chart, too
            names += [self.upgraded_client_service, self.fqdn(self.upgraded_client_service)]
        names.append("localhost")
        return _unique([dns(n) for n in names] + [San("IP", "127.0.0.1"), *self.extra_sans])

    # Docker ---------------------------------------------------------------------------------
    @property
    def network(self) -> str:
        return f"{PREFIX}-{self.fullname}"

    @property
    def compose_project(self) -> str:
        """The Compose project of the exported file (its containers and volumes carry it)."""
        return f"{PREFIX}-{self.fullname}"

    def probe_node(self, role: str, tag: str = "") -> str:
        """A short-lived extra nats-server on the cluster's network, e.g. the rogue node."""
        return f"{self.fullname}-{role}" + (f"-{tag.lower()}" if tag else "")

    def volume(self, index: int) -> str:
        """The JetStream volume of a node, named like the chart's PVC of that pod."""
        return f"{self.pvc_name}-{self.pod(index)}"

    def pod_aliases(self, index: int) -> list[str]:
        """The names a headless Service gives one pod, each a network alias of its container."""
        host = self.pod_host(index)
        parts = [host, f"{host}.{self.namespace}", f"{host}.{self.namespace}.svc", self.fqdn(host)]
        if self.layout == "legacy":
            parts.append(self.legacy_route_host(index))
        return _unique(parts)

    @property
    def shared_aliases(self) -> list[str]:
        """Names every container answers to, as a Service answers with all its pods."""
        return _unique(
            [
                self.headless,
                self.fqdn(self.headless),
                self.client_service,
                self.fqdn(self.client_service),
            ]
        )

    def aliases(self, index: int) -> list[str]:
        return _unique(self.pod_aliases(index) + self.shared_aliases)

    def labels(self, spec_file: str, index: int | None = None) -> dict[str, str]:
        labels = {MANAGED_LABEL: "true", CLUSTER_LABEL: self.fullname, SPEC_LABEL: spec_file}
        if index is not None:
            labels[NODE_LABEL] = self.pod(index)
        return labels

    @property
    def selector(self) -> dict[str, list[str]]:
        """A Docker list filter for every object made from this cluster's spec."""
        return {"label": [f"{MANAGED_LABEL}=true", f"{CLUSTER_LABEL}={self.fullname}"]}

    @property
    def any_selector(self) -> dict[str, list[str]]:
        """Every object carrying this cluster's label, managed or not (for purging)."""
        return cluster_selector(self.fullname)

    # The host: ports on 127.0.0.1 and the URLs clients use ----------------------------------
    def client_host_port(self, index: int) -> int:
        return self.client_host_base + index

    def monitor_host_port(self, index: int) -> int:
        return self.monitor_host_base + index

    def cluster_host_port(self, index: int) -> int:
        """Node `index`'s route port on 127.0.0.1: only to read the certificate it serves."""
        return self.cluster_host_base + index

    def client_url(self, index: int) -> str:
        """How a client on the host reaches node `index` (the server cert covers localhost)."""
        return localhost_url(self.client_host_port(index))

    @property
    def client_urls(self) -> list[str]:
        return [self.client_url(i) for i in range(self.replicas)]

    @property
    def monitor_targets(self) -> list[tuple[str, int]]:
        """(pod, monitor host port) of every node, as the readiness checks poll them."""
        return [(self.pod(i), self.monitor_host_port(i)) for i in range(self.replicas)]

    @property
    def default_identity(self) -> str:
        """The client identity used when none is named: the spec's first that is not a
        system identity (those reach only $SYS), else the first."""
        others = [i for i in self.identities if i not in self.system_identities]
        return (others or list(self.identities))[0]

    def nats_context(self, identity: str | None = None, checkout: str | None = None) -> str:
        """The nats CLI context `invoke env` writes: the default identity's is named after
        the cluster, any other identity's after the cluster and the identity. `checkout`
        (a spec file's path) adds a short hash of it: the name for a second checkout whose
        release already has a context of another checkout's."""
        name = f"{PREFIX}-{self.fullname}"
        if identity is not None and identity != self.default_identity:
            name += f"-{identity}"
        if checkout is not None:
            name += f"-{hashlib.sha256(checkout.encode()).hexdigest()[:6]}"
        return name


def _unique(items: list[T]) -> list[T]:
    return list(dict.fromkeys(items))


def names_for(spec: Spec) -> ClusterNames:
    """Derive every name from the spec; SpecError when a derived name breaks a Kubernetes limit."""
    fullname = chart_fullname(spec.release, spec.fullname_override)
    names = ClusterNames(
        fullname=fullname,
        namespace=spec.namespace,
        cluster_domain=spec.cluster_domain,
        replicas=spec.replicas,
        cluster_port=spec.ports.cluster,
        use_fqdn=spec.use_fqdn,
        layout=spec.chart_layout,
        cluster_name=spec.cluster_name or fullname,
        client_host_base=spec.host_ports.client,
        monitor_host_base=spec.host_ports.monitor,
        cluster_host_base=spec.host_ports.cluster,
        identities=spec.tls.client_names,
        system_identities=tuple(c.name for c in spec.tls.system_identities),
        extra_sans=spec.tls.extra_sans,
    )
    longest_pod = names.pod(spec.replicas - 1)
    for what, name in (("headless service name", names.headless), ("pod name", longest_pod)):
        if len(name) > 63:
            field = "fullname_override" if spec.fullname_override else "release"
            raise SpecError(
                f"{spec.path}: {field} makes the {what} {name!r} longer than 63 characters; "
                f"choose a shorter {field}"
            )
    return names

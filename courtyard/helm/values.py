"""Values for the official nats/nats chart, from the same spec and names as the local cluster.

`current` is the chart's present layout (keys under `config.*`, `tlsCA`, `container.image`);
`legacy` is the 0.x layout the original nats-config.yaml used. Every key path written here
exists in the chart's default values (a test walks them).
"""

from __future__ import annotations

from typing import Any

from courtyard.artefacts import authorization
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.project.server import server_version
from courtyard.project.sizes import kubernetes_quantity

CHART_REPO_NAME = "nats"
CHART_REPO_URL = "https://nats-io.github.io/k8s/helm/charts/"
CA_KEY = "ca.crt"
# The last release of the 0.x chart, whose values layout `legacy` writes.
LEGACY_CHART_VERSION = "0.19.17"


def chart_version() -> str:
    """The chart release that ships the pinned nats-server (the chart follows its appVersion)."""
    return server_version()


def image_tag() -> str:
    return naming.official_image().split(":", 1)[1]


def values(project: Project) -> dict[str, Any]:
    if project.spec.chart_layout == "legacy":
        return legacy_values(project)
    return current_values(project)


def current_values(project: Project) -> dict[str, Any]:
    spec, names = project.spec, project.names
    js = spec.jetstream
    file_store = kubernetes_quantity(js.file_store_bytes)
    cluster: dict[str, Any] = {
        "enabled": True,
        "port": spec.ports.cluster,
        "replicas": spec.replicas,
        "noAdvertise": True,
        "routeURLs": {"useFQDN": spec.use_fqdn, "k8sClusterDomain": spec.cluster_domain},
        # Only a certificate naming a route host may join as a route (as the local nodes).
        "tls": {
            "enabled": True,
            "secretName": names.route_secret,
            "merge": {"verify_cert_and_check_known_urls": True},
        },
    }
    if names.cluster_name != names.chart_default_cluster_name:
        cluster["merge"] = {"name": names.cluster_name}
    result: dict[str, Any] = {
        "tlsCA": {"enabled": True, "secretName": names.ca_secret, "key": CA_KEY},
        "config": {
            "cluster": cluster,
            "nats": {
                "port": spec.ports.client,
                "tls": {
                    "enabled": True,
                    "secretName": names.client_secret,
                    "merge": {"verify_and_map": True},
                },
            },
            "monitor": {"enabled": True, "port": spec.ports.monitor},
            "jetstream": {
                "enabled": True,
                "memoryStore": {
                    "enabled": True,
                    "maxSize": kubernetes_quantity(js.memory_store_bytes),
                },
                "fileStore": {
                    "enabled": True,
                    "dir": naming.STORE_DIR,
                    "pvc": {"enabled": True, "size": file_store},
                    "maxSize": file_store,
                },
            },
        },
        "container": {"image": {"repository": "nats", "tag": image_tag()}},
    }
    # Users and permissions have no keys of their own in the chart.
    result["config"]["merge"] = authorization.server_config(spec)
    if spec.fullname_override:
        result["fullnameOverride"] = spec.fullname_override
    return result


def needs_accounts_config(project: Project) -> bool:
    """The 0.x chart takes accounts with users (the teams', the shared one, the system
    account's) only from an included config."""
    spec = project.spec
    return spec.chart_layout == "legacy" and bool(
        spec.tls.system_identities or authorization.teams(spec)
    )


def legacy_values(project: Project) -> dict[str, Any]:
    """The 0.x chart: its tls blocks name the CA inside the same secret as the pair."""
    spec, names = project.spec, project.names
    js = spec.jetstream

    def tls(secret: str) -> dict[str, Any]:
        return {
            "secret": {"name": secret},
            "ca": CA_KEY,
            "cert": naming.TLS_CERT,
            "key": naming.TLS_KEY,
        }

    result: dict[str, Any] = {
        "nats": {
            "image": {"repository": "nats", "tag": image_tag()},
            "client": {"port": spec.ports.client},
            "tls": {**tls(names.client_secret), "verifyAndMap": True},
            "jetstream": {
                "enabled": True,
                "memStorage": {"enabled": True, "size": kubernetes_quantity(js.memory_store_bytes)},
                "fileStorage": {
                    "enabled": True,
                    "storageDirectory": naming.STORE_DIR,
                    "size": kubernetes_quantity(js.file_store_bytes),
                },
            },
        },
        "cluster": {
            "enabled": True,
            "replicas": spec.replicas,
            "noAdvertise": True,
            "tls": {**tls(names.route_secret), "verifyCertAndCheckKnownUrls": True},
        },
    }
    # Routes name each pod by its full DNS name, in the spec's cluster domain.
    result["useFQDN"] = True
    result["k8sClusterDomain"] = spec.cluster_domain
    # Neither auth.basic.accounts nor auth.systemAccount: the 0.x chart renders accounts
    # with a second, empty `authorization` block after the users, and nats-server keeps the
    # last one (no users at all); naming a system account without declaring it stops the
    # server ("account missing"). The global account's users (a spec without teams) go in
    # auth.basic.users; every account with users (the teams', the shared one, the system
    # account's) comes from an included config, a Secret (`secret_manifests`).
    if not authorization.teams(spec):
        result["auth"] = {"enabled": True, "basic": {"users": authorization.users(spec)}}
    if needs_accounts_config(project):
        secret = {"secretName": names.accounts_secret}
        result["nats"]["config"] = [{"name": naming.ACCOUNTS_CONFIG, "secret": secret}]
    if names.cluster_name != names.chart_default_cluster_name:
        result["cluster"]["name"] = names.cluster_name
    if spec.fullname_override:
        result["fullnameOverride"] = spec.fullname_override
    return result


def key_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted key paths down to the leaves; a `merge` block is free-form and ends the walk."""
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "merge":
            paths += key_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths

"""Docker objects of one cluster: find them, create them, remove them.

Courtyard only ever stops, removes or reuses objects that carry its labels for this cluster
(`courtyard.runtime.ownership`); anything else with a clashing name is reported and left
alone.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume

from courtyard.artefacts.node_containers import NodeDefinition, sync_config_mount
from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import containers
from courtyard.runtime.ownership import Owner, carries_cluster_labels, owner_of, refuse_foreign

STOP_TIMEOUT = 10


def get_container(client: docker.DockerClient, name: str) -> Container | None:
    try:
        container = client.containers.get(name)
    except NotFound:
        return None
    # get() also matches by id prefix; only an exact name counts.
    return container if container.name == name else None


def our_containers(client: docker.DockerClient, project: Project) -> list[Container]:
    """Containers made for this cluster by Courtyard itself, not by Compose. Probe nodes
    (the smoke's rogue node) carry the same labels, so they are among them while they run."""
    found = client.containers.list(all=True, filters=project.names.selector)
    return [c for c in found if owner_of(c.labels, project.names.fullname) is Owner.OURS]


def node_containers(client: docker.DockerClient, project: Project) -> list[Container | None]:
    """The container of every pod, in pod order, when it was made from this spec (by `up`
    or Compose); None where there is none."""
    found = []
    for pod in project.names.pods:
        container = get_container(client, pod)
        if container is not None and not carries_cluster_labels(
            container.labels, project.names.fullname
        ):
            container = None
        found.append(container)
    return found


def not_running(pods: list[str], containers: list[Container | None]) -> dict[str, str]:
    """Each pod whose container is absent or not running, with its state ("absent",
    "exited", "paused", ...): the one answer to "are all nodes running?"."""
    return {
        pod: container.status if container is not None else "absent"
        for pod, container in zip(pods, containers, strict=True)
        if container is None or container.status != "running"
    }


def get_networks(client: docker.DockerClient, name: str) -> list[Network]:
    """Every network named exactly `name` (older engines allowed several)."""
    return [n for n in client.networks.list(names=[name]) if n.name == name]


def get_network(client: docker.DockerClient, name: str) -> Network | None:
    found = get_networks(client, name)
    return found[0] if found else None


def drop_duplicate_networks(client: docker.DockerClient, project: Project) -> list[str]:
    """A cluster has one network: extra ones of ours that no container uses are removed (two
    racing `up`s on an old engine could make two). Returns the ids removed."""
    found = get_networks(client, project.names.network)
    ours = [
        n for n in found if owner_of(n.attrs.get("Labels"), project.names.fullname) is Owner.OURS
    ]
    if len(ours) < 2:
        return []
    for network in ours:
        network.reload()
    ours.sort(key=lambda n: len(n.attrs.get("Containers") or {}), reverse=True)
    removed = []
    for network in ours[1:]:
        if not network.attrs.get("Containers"):
            remove_network(network)
            removed.append(network.id)
    return removed


def remove_network(network: Network) -> None:
    ignore_gone(network.remove)


def ignore_gone(call: Callable[[], object]) -> None:
    """Run a removal; an object already gone (or going) is the state it wanted."""
    try:
        call()
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409 or "in progress" not in str(exc.explanation or ""):
            raise


def get_volume(client: docker.DockerClient, name: str) -> Volume | None:
    try:
        return client.volumes.get(name)
    except NotFound:
        return None


def check_names(
    client: docker.DockerClient, project: Project, nodes: list[NodeDefinition]
) -> tuple[dict[str, Container | None], Network | None]:
    """Every name the cluster needs is free or ours; returns our containers and network.

    Data volumes made from this spec by Compose are accepted (they hold the same data);
    containers and networks must be this cluster's own.
    """
    fullname, spec_name = project.names.fullname, project.spec.path.name
    drop_duplicate_networks(client, project)
    existing: dict[str, Container | None] = {}
    for node in nodes:
        container = get_container(client, node.name)
        if container is not None:
            refuse_foreign("container", node.name, owner_of(container.labels, fullname), spec_name)
        existing[node.name] = container
    network = get_network(client, project.names.network)
    if network is not None:
        refuse_foreign(
            "network", network.name, owner_of(network.attrs.get("Labels"), fullname), spec_name
        )
    for node in nodes:
        volume = get_volume(client, node.volume)
        labels = volume.attrs.get("Labels") if volume is not None else None
        if volume is not None and not carries_cluster_labels(labels, fullname):
            refuse_foreign("volume", node.volume, owner_of(labels, fullname), spec_name)
    return existing, network


def ensure_network(client: docker.DockerClient, project: Project) -> bool:
    """Create the cluster's bridge network unless it exists (check_names vetted it first);
    True when created."""
    name = project.names.network
    if get_network(client, name) is not None:
        return False
    try:
        client.networks.create(
            name,
            driver="bridge",
            labels=project.names.labels(project.spec_file),
            check_duplicate=True,
        )
    except APIError as exc:
        if exc.status_code != 409:  # 409: made meanwhile by another run; that is what we want
            raise
        return False
    return True


def ensure_volume(client: docker.DockerClient, project: Project, name: str) -> bool:
    """Create a node's data volume unless it exists (check_names vetted it first)."""
    if get_volume(client, name) is not None:
        return False
    client.volumes.create(name, labels=project.names.labels(project.spec_file))
    return True


def create_node(client: docker.DockerClient, node: NodeDefinition) -> Container:
    """Create (not start) the container of one node, labelled with its fingerprint."""
    return containers.create(
        client,
        containers.ContainerDefinition(
            image=node.image,
            name=node.name,
            network=node.network,
            aliases=node.aliases,
            labels={**dict(node.labels), naming.HASH_LABEL: node.fingerprint},
            entrypoint=node.entrypoint,
            command=node.command,
            read_only={str(host): path for path, host in node.mounts},
            volumes={node.volume: naming.STORE_DIR},
            ports=dict(node.ports),
        ),
    )


def start_node(client: docker.DockerClient, node: NodeDefinition, old: Container | None) -> None:
    """Start the node: its stopped container when it still fits, else a new one. Its mounted
    config folder first gets the generated config (unless a start gate is armed there)."""
    sync_config_mount(node)
    fits = old is not None and old.labels.get(naming.HASH_LABEL) == node.fingerprint
    if fits and old.status in ("created", "exited"):
        old.start()
        return
    if old is not None:
        remove_container(old)
    try:
        created = create_node(client, node)
    except APIError as exc:
        if exc.status_code != 409:
            raise
        # The name was taken meanwhile: by the same node made from the same files, that is
        # the state wanted; by anything else, the next `up` sorts it out with its preflight.
        created = get_container(client, node.name)
        if created is None or created.labels.get(naming.HASH_LABEL) != node.fingerprint:
            raise CourtyardError(
                f"container {node.name} was created by something else while `up` ran; run "
                "`invoke up` again"
            ) from None
        if created.status == "running":
            return
    created.start()


def unpause_node(container: Container) -> None:
    container.unpause()


def reconnect_node(client: docker.DockerClient, node: NodeDefinition, container: Container) -> None:
    """Connect the container to its network again with every alias it must answer to."""
    network = get_network(client, node.network)
    if network is None:
        raise CourtyardError(f"network {node.network} is gone; run `invoke up` again")
    container.reload()
    if node.network in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}):
        ignore_gone(lambda: network.disconnect(container, force=True))
    network.connect(container, aliases=list(node.aliases))


def remove_container(container: Container) -> None:
    """Stop and remove; a container already gone is what was wanted."""
    if container.status in ("running", "paused", "restarting"):
        ignore_gone(lambda: container.stop(timeout=STOP_TIMEOUT))
    ignore_gone(lambda: container.remove(v=False, force=True))


def in_parallel(jobs: list[Callable[[], object]]) -> None:
    """Run Docker calls side by side (nodes are independent); the first error is raised."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def log_tail(container: Container, lines: int = 20) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except (NotFound, APIError):
        return "(no logs: the container is gone)"


def labelled_clusters(client: docker.DockerClient) -> dict[str, str]:
    """Every cluster that has a container, network or volume labelled with its name: the
    spec file the labels name ("" when none does). Read from the engine's list answers
    alone, so an object another process removes meanwhile is simply not there."""
    found: dict[str, str] = {}
    selector = naming.ANY_CLUSTER_SELECTOR
    answers = [
        *client.api.containers(all=True, filters=selector),
        *client.api.networks(filters=selector),
        *(client.api.volumes(filters=selector).get("Volumes") or []),
    ]
    for answer in answers:
        labels = answer.get("Labels") or {}
        name = labels.get(naming.CLUSTER_LABEL)
        if name and not found.get(name):
            found[name] = labels.get(naming.SPEC_LABEL, "")
    return found


def purge(client: docker.DockerClient, project: Project) -> None:
    """Remove every container, network and volume labelled with this cluster's name.

    For throw-away clusters (tests, benchmarks) whose names are unique to their run; users
    have `invoke down`, which is stricter about whose objects it touches.
    """
    purge_cluster(client, project.names.fullname)


def purge_cluster(client: docker.DockerClient, fullname: str) -> None:
    """`purge` by the cluster's name alone (its spec may be gone)."""
    selector = naming.cluster_selector(fullname)
    api = client.api
    # By id from the list answers, each removal ignoring an object already gone: another
    # process (the session that made it, or a second sweep) may be removing it too.
    for answer in api.containers(all=True, filters=selector):
        ignore_gone(lambda i=answer["Id"]: api.remove_container(i, force=True))
    for answer in api.networks(filters=selector):
        ignore_gone(lambda i=answer["Id"]: api.remove_network(i))
    for answer in api.volumes(filters=selector).get("Volumes") or []:
        ignore_gone(lambda n=answer["Name"]: api.remove_volume(n, force=True))

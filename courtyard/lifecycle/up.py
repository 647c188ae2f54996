"""`invoke up`: one context and an ordered list of small steps, each printing its own line.

Like kind's cluster creation: fixed options, then a literal list of actions over a context
that holds what they observe, then one loop. The steps, in the order of `UP_STEPS`:

1. connect: reach the Docker engine (before anything is written, so an unreachable engine
   changes nothing on disk);
2. survey: list this cluster's containers, once;
3. check_scale_down, check_comeback, check_stranded_streams: refuse, before anything
   changes, a spec the running cluster cannot follow;
4. prepare: write certificates and node configs (checked by `nats-server -t`);
5. image: choose or build the node image;
6. preflight: names and ports, and the plan (start, roll, repair, reload, remove);
7. network_and_volumes, release_left_armed, repair, start (behind the start gate),
   first_election (a lost first round started again);
8. scale_down: remove nodes beyond the replicas (volumes kept);
9. wait: until ready; reload_certificates and roll: changed nodes one at a time;
10. departed_peers: name the peers the meta group still counts (remove them on request).

Every step is idempotent; a step with nothing to do prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
from docker.models.containers import Container

from courtyard.artefacts import authorization
from courtyard.artefacts.node_containers import NodeDefinition, node_definitions
from courtyard.checks import drift, first_round, meta_group, quorum
from courtyard.checks.readiness import wait_ready
from courtyard.checks.resources import cluster_account_limit_warnings
from courtyard.checks.stale_certs import stale_reasons
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import Reporter
from courtyard.lifecycle import prepare as steps
from courtyard.project import naming
from courtyard.project.limits import account_limits
from courtyard.project.load import MAX_REPLICAS
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects, fresh_start, link_faults, ports, start_gate, teardown
from courtyard.runtime.plan import Plan, plan_nodes
from courtyard.servers import jsz, meta_peers, raftz, reload
from courtyard.servers.records import record_digest, record_loaded
from courtyard.servers.system import system_identity

DEFAULT_TIMEOUT = 60.0
# A fresh bootstrap whose first election is lost starts again (once) when removing and
# starting the containers, about RESTART_FACTOR times what starting them took, plus the new
# election, is sooner than nats-server's next election.
RESTART_FACTOR = 2.0
RESTART_MARGIN = 0.8


@dataclass(frozen=True)
class UpOptions:
    """What `up` was asked to do; no step changes it."""

    project: Project
    timeout: float = DEFAULT_TIMEOUT
    force_certs: bool = False
    forget_departed: bool = False  # remove departed peers from the meta group, for good
    # Where the steps report; the plugin, tests and benchmarks pass a Recorder.
    reporter: Reporter = field(default_factory=Reporter)
    # Called once, as soon as the nodes to start have published their host ports (or when
    # `up` ends without starting any): the plugin holds its host-wide port lock until then.
    on_ports_bound: Callable[[], None] | None = None


@dataclass
class UpContext:
    """The options, and what the steps observe, each written by one step for later ones."""

    options: UpOptions
    client: docker.DockerClient | None = None  # connect
    ours: dict[str, Container] = field(default_factory=dict)  # survey: our containers, once
    nodes: list[NodeDefinition] = field(default_factory=list)  # image
    existing: dict[str, Container | None] = field(default_factory=dict)  # preflight
    network_existed: bool = False  # preflight
    plan: Plan = field(default_factory=Plan)  # preflight
    # Volumes this run created: a full cold start on these alone is a fresh bootstrap.
    created_volumes: set[str] = field(default_factory=set)  # network_and_volumes
    fresh_bootstrap: bool = False  # start
    start_seconds: float = 0.0  # start: how long the engine took to start the nodes
    released_at: float = 0.0  # start: when their servers were let go (time.monotonic)
    _ports_told: bool = False

    @property
    def project(self) -> Project:
        return self.options.project

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @property
    def reporter(self) -> Reporter:
        return self.options.reporter

    @property
    def already_running(self) -> bool:
        return self.plan.changes_nothing and self.network_existed

    def step(self, title: str):
        return self.reporter.step(title)

    def ports_bound(self) -> None:
        if not self._ports_told and self.options.on_ports_bound is not None:
            self._ports_told = True
            self.options.on_ports_bound()

    def wait_ready(self) -> str:
        return wait_ready(
            self.client, self.project, self.project.names.monitor_targets, self.timeout
        )


def connect(ctx: UpContext) -> None:
    ctx.client = steps.connect_engine(ctx.reporter)


def survey(ctx: UpContext) -> None:
    """List this cluster's containers once, for the checks and the plan that follow (nothing
    changes them before the nodes start)."""
    ctx.ours = {c.name: c for c in docker_objects.our_containers(ctx.client, ctx.project)}


def check_scale_down(ctx: UpContext) -> None:
    """Refuse, before anything changes, a scale-down whose nodes left could not hold the
    JetStream meta group's quorum (checks/quorum.py); the data is kept either way."""
    names = ctx.project.names
    beyond = {names.pod(i): i for i in range(names.replicas, MAX_REPLICAS)}
    ours = ctx.ours
    removed = [name for name in beyond if name in ours]
    if not removed:
        return
    indexes = [i for i, pod in enumerate([*names.pods, *beyond]) if pod in ours]
    running = [i for i in indexes if ours[names.pod(i)].status == "running"]
    sizes = [raftz.meta_vote(names.monitor_host_port(i)).peers for i in running]
    peers = max([*sizes, len(indexes)])
    problem = quorum.scale_down_problem(peers, names.replicas)
    if problem:
        raise CourtyardError(problem)


def check_stranded_streams(ctx: UpContext) -> None:
    """Refuse, before anything changes, a spec whose accounts would leave streams of the
    running cluster without an account: the global account's when the identities move to
    teams (it loses JetStream, every node's health stays 503), a removed team's (a node that
    cannot look up its account fails to start), APP's when the teams go (its users move to
    the global account)."""
    names = ctx.project.names
    ours = ctx.ours
    held: dict[str, set[str]] = {}
    for i in range(MAX_REPLICAS):
        container = ours.get(names.pod(i))
        if container is not None and container.status == "running":
            answer = jsz.fetch(names.monitor_host_port(i), jsz.ACCOUNTS_QUERY)
            for account, streams in answer.account_streams().items():
                held.setdefault(account, set()).update(streams)
    kept = authorization.application_accounts(ctx.project.spec)
    stranded = {a: s for a, s in held.items() if s and a not in kept and a != naming.SYSTEM_ACCOUNT}
    if stranded:
        account, streams = min(stranded.items())
        raise CourtyardError(stranded_streams_sentence(account, sorted(streams)))


def stranded_streams_sentence(account: str, streams: list[str]) -> str:
    """What to do about streams of `account`, which the new spec no longer has."""
    listed = ", ".join(streams)
    if account == naming.GLOBAL_ACCOUNT:
        return (
            f"the cluster keeps stream(s) {listed} in the global account, which the spec's "
            "restricted identities would leave without JetStream (each team gets an account, "
            f"the admins share {naming.SHARED_ACCOUNT}); copy out what you need and run "
            "`invoke down --volumes`, or remove the restricted identities"
        )
    if account == naming.SHARED_ACCOUNT:
        return (
            f"the admins' account {account} keeps stream(s) {listed}, which a spec without "
            "restricted identities would leave without an account (the admins move to the "
            "global account); copy out what you need and run `invoke down --volumes`, or "
            "keep a restricted identity"
        )
    return (
        f"team {account} is no longer in the spec but its account keeps stream(s) {listed}, "
        "which no node could serve once the account is gone; delete them as that identity "
        f"(or copy out what you need) first, or keep {account} in tls.clients"
    )


def prepare(ctx: UpContext) -> None:
    steps.prepare(ctx.project, force_certs=ctx.options.force_certs, reporter=ctx.reporter)


def image(ctx: UpContext) -> None:
    chosen = steps.choose_image(ctx.client, ctx.project, ctx.reporter)
    ctx.nodes = node_definitions(ctx.project, chosen.tag)


def preflight(ctx: UpContext) -> None:
    with ctx.step("Preflight: names and ports") as info:
        ctx.existing, network = docker_objects.check_names(ctx.client, ctx.project, ctx.nodes)
        ctx.network_existed = network is not None
        held = {
            port
            for c in ctx.ours.values()
            if c.status in ("running", "paused", "restarting")
            for port in ports.published_ports(c)
        }
        states = drift.observe(ctx.project, ctx.nodes, ctx.existing)
        ctx.plan = plan_nodes(ctx.nodes, states, ctx.ours)
        ports.check_ports(ctx.plan.to_start_or_roll, held)
        plan = ctx.plan
        counts = [f"{len(plan.start)} to start", f"{len(plan.roll)} to roll"]
        counts += [f"{len(plan.unpause)} to unpause"] if plan.unpause else []
        counts += [f"{len(plan.reconnect)} to reconnect"] if plan.reconnect else []
        counts += [f"{len(plan.heal)} to heal"] if plan.heal else []
        counts += [f"{len(plan.reload)} to reload"] if plan.reload else []
        info["detail"] = "nothing to change" if plan.changes_nothing else ", ".join(counts)


def network_and_volumes(ctx: UpContext) -> None:
    if ctx.already_running:
        return
    project = ctx.project
    with ctx.step("Network and volumes") as info:
        made_network = docker_objects.ensure_network(ctx.client, project)
        made = docker_objects.ensure_volume
        ctx.created_volumes |= {n.volume for n in ctx.nodes if made(ctx.client, project, n.volume)}
        info["detail"] = (
            f"{project.names.network} {'created' if made_network else 'kept'}, "
            f"{len(ctx.created_volumes)} volume(s) created"
        )


def release_left_armed(ctx: UpContext) -> None:
    """Nodes an interrupted `up` left waiting at their start gate are let go."""
    waiting = [n for n in start_gate.armed(ctx.nodes) if n not in ctx.plan.start]
    if not waiting:
        return
    with ctx.step("Start gate") as info:
        released = start_gate.release_containers(ctx.client, waiting)
        info["detail"] = (
            f"released {', '.join(released) or 'no server'}, left waiting by an interrupted run"
        )


def repair(ctx: UpContext) -> None:
    """Nodes that run what was generated but were paused, lost their network aliases or
    carry faults on their links keep their containers: resumed, connected again with every
    alias, or their links healed."""
    if not ctx.plan.repairs:
        return
    with ctx.step("Nodes repaired") as info:
        done = []
        for node in ctx.plan.unpause:
            docker_objects.unpause_node(ctx.existing[node.name])
            done.append(f"{node.name} unpaused (was paused)")
        for node in ctx.plan.reconnect:
            docker_objects.reconnect_node(ctx.client, node, ctx.existing[node.name])
            done.append(f"{node.name} reconnected with its aliases (peers could not resolve it)")
        for node, faults in ctx.plan.heal:
            link_faults.heal(ctx.existing[node.name])
            done.append(f"{node.name}'s links healed (was: {', '.join(faults)})")
        info["detail"] = ", ".join(done)


def start(ctx: UpContext) -> None:
    """Start the nodes that are down. Several at once start together behind the start gate,
    so that their servers elect a meta leader at once instead of a timeout later."""
    if not ctx.plan.start:
        return
    gated = len(ctx.plan.start) > 1 and start_gate.supported(ctx.client)
    ctx.fresh_bootstrap = gated and starts_fresh(ctx)
    with ctx.step("Nodes") as info:
        started = time.monotonic()
        released = _start_together(ctx, gated)
        ctx.start_seconds = time.monotonic() - started
        info["detail"] = ", ".join(f"{n.name} {ctx.plan.reasons[n.name]}" for n in ctx.plan.start)
        if released:
            info["detail"] += f"; {len(released)} servers released together"


def starts_fresh(ctx: UpContext) -> bool:
    """Every node of the spec starts, each on a volume this run created: a bootstrap with
    nothing stored anywhere yet."""
    return {n.name for n in ctx.plan.start} == {n.name for n in ctx.nodes} and {
        n.volume for n in ctx.nodes
    } <= ctx.created_volumes


def _start_together(ctx: UpContext, gated: bool) -> list[str]:
    """Start every node of the plan (behind the start gate when `gated`); the released."""
    if gated:
        start_gate.arm(ctx.plan.start)
    try:
        docker_objects.in_parallel(
            [
                lambda n=node: docker_objects.start_node(ctx.client, n, ctx.existing[n.name])
                for node in ctx.plan.start
            ]
        )
    finally:
        released = start_gate.release_containers(ctx.client, ctx.plan.start) if gated else []
        ctx.released_at = time.monotonic()
        ctx.ports_bound()
    return released


def restart_seconds(start_seconds: float) -> float:
    """About how long removing and starting the nodes again takes, with the new election."""
    return RESTART_FACTOR * start_seconds + RESTART_MARGIN


def restart_is_sooner(restart: float, since_release: float) -> bool:
    """Does a restart taking `restart` seconds beat nats-server's next election? The lost
    round's campaigns came after the release, so that is no sooner than
    NEXT_ELECTION_AFTER after it."""
    return restart < first_round.NEXT_ELECTION_AFTER - since_release


def first_election(ctx: UpContext) -> None:
    """A fresh cluster whose first meta-leader election is lost starts again at once on its
    emptied new volumes, instead of waiting out nats-server's election timeout (4-9 s).

    Only after a full cold start on volumes this run created, only while every server says
    its meta group never had a leader and stored nothing (checks/first_round.py), and only
    when removing and starting the containers again (about twice what starting them took)
    beats the next election: with many nodes on a slow engine, waiting is quicker.
    """
    if not ctx.fresh_bootstrap:
        return
    verdict = first_round.watch(ctx.project.names.monitor_targets)
    if not verdict.lost:
        return
    with ctx.step("First meta-leader election lost") as info:
        restart = restart_seconds(ctx.start_seconds)
        if not restart_is_sooner(restart, time.monotonic() - ctx.released_at):
            info["detail"] = (
                f"{verdict.reason}; starting {len(ctx.plan.start)} nodes again would take "
                f"about {restart:.1f}s, longer than nats-server's next election, so waiting "
                "for that"
            )
            return
        # Under the host-wide port reservation: while the containers are gone their ports
        # are free, and another session choosing ports must not take them.
        with ports.reservation():
            fresh_start.empty_and_remove(ctx.client, ctx.project, ctx.plan.start)
            ctx.existing.update({node.name: None for node in ctx.plan.start})
            _start_together(ctx, gated=True)
        again = first_round.watch(ctx.project.names.monitor_targets)
        outcome = {first_round.WON: "won", first_round.LOST: "lost again"}.get(
            again.outcome, "still open"
        )
        outcome += f" by {again.leader}" if again.leader else ""
        info["detail"] = (
            f"{verdict.reason}; started the nodes again on emptied new volumes, {outcome}"
        )


def wait(ctx: UpContext) -> None:
    if ctx.plan.start or ctx.plan.repairs or ctx.plan.remove:
        title = "Waiting for health, routes and JetStream meta leader"
    elif ctx.already_running:
        title = "Ready (already running)"
    else:
        return
    with ctx.step(title) as info:
        info["detail"] = ctx.wait_ready()
    record_digests(ctx, [*ctx.plan.start, *ctx.plan.repairs])
    limits = account_limits(ctx.project.spec)
    for warning in cluster_account_limit_warnings(limits, ctx.project.names.monitor_targets):
        ctx.reporter.warn(warning)


def record_digests(ctx: UpContext, nodes: list[NodeDefinition]) -> None:
    """Remember what each (re)started node loaded, and what a node never seen before runs,
    so that a later `up` or `status` notices a node that runs something else."""
    layout = ctx.project.layout
    started = {node.index for node in nodes}
    unseen = {node.index for node in ctx.nodes if not layout.config_digest(node.name).is_file()}
    for index in sorted(started | unseen):
        record_digest(ctx.project, index)
    # What a started node read from its certificate folders is what they hold now; a node
    # seen for the first time counts as loaded only when it serves what they hold.
    for node in ctx.nodes:
        unknown = not layout.secrets_digest(node.name).is_file()
        if node.index in started or (unknown and not stale_reasons(ctx.project, node.index)):
            record_loaded(ctx.project, node.index)


def reload_certificates(ctx: UpContext) -> None:
    """Nodes whose certificates changed reload them in place (SIGHUP), one at a time, as the
    chart's config reloader makes them: same containers, no client disconnected."""
    for node, reason in ctx.plan.reload:
        with ctx.step(f"Reloaded {node.name} ({reason})") as info:
            confirmed = reload.reload_node(ctx.client, ctx.project, node.index)
            info["detail"] = f"{confirmed}; {ctx.wait_ready()}"


def roll(ctx: UpContext) -> None:
    """Replace changed nodes one at a time, each followed by a full readiness wait, as a
    StatefulSet rolls its pods: a 3-replica stream keeps taking publishes meanwhile."""
    for node, reason in ctx.plan.roll:
        with ctx.step(f"Rolling {node.name} ({reason})") as info:
            started = time.monotonic()
            docker_objects.start_node(ctx.client, node, ctx.existing[node.name])
            summary = ctx.wait_ready()
            record_digest(ctx.project, node.index)
            record_loaded(ctx.project, node.index)
            info["detail"] = f"ready again after {time.monotonic() - started:.1f}s: {summary}"


def scale_down(ctx: UpContext) -> None:
    """Nodes beyond the spec's replicas (after scaling down) are removed; volumes are kept."""
    if not ctx.plan.remove:
        return
    with ctx.step("Scaled down") as info:
        teardown.remove_all([ctx.ours[name] for name in ctx.plan.remove])
        info["detail"] = f"removed {', '.join(ctx.plan.remove)} (volumes kept)"


def check_comeback(ctx: UpContext) -> None:
    """Refuse, before anything changes, a scale-up that brings back a node `--forget-departed`
    removed from the meta group: its server would run without JetStream."""
    problem = meta_group.comeback_problem(ctx.project.layout, ctx.project.names.pods)
    if problem:
        raise CourtyardError(problem)


def departed_peers(ctx: UpContext) -> None:
    """Nodes scaled away stay peers of the JetStream meta group, offline, and count against
    its quorum (checks/meta_group.py): `up` says so, and with `--forget-departed` asks the
    meta leader to remove them, for good, as the spec's system identity."""
    names = ctx.project.names
    group = meta_group.meta_group(names.monitor_targets)
    gone = group.departed(names) if group is not None else []
    if group is None or not gone:
        if ctx.options.forget_departed:
            ctx.reporter.warn("--forget-departed: the meta group counts no departed peers")
        return
    if not ctx.options.forget_departed:
        ctx.reporter.warn(meta_group.departed_warning(group.size, gone, names.replicas))
        return
    if not group.all_online(names.pods):
        raise CourtyardError(
            "--forget-departed removes peers only while every node of the spec is an online "
            "peer of the meta group; run `invoke status`, bring the nodes back, then again"
        )
    system_identity(ctx.project)  # one sentence when the spec has none
    with ctx.step("Departed peers removed from the meta group") as info:
        meta_peers.remove(ctx.project, {p.peer: p.label for p in gone}, ctx.timeout)
        now = meta_group.meta_group(names.monitor_targets)
        counted = f"it counts {now.size} peers" if now is not None else "no meta leader yet"
        info["detail"] = (
            f"{', '.join(p.label for p in gone)} (offline, no node of the spec); {counted}; "
            "they cannot come back"
        )


UP_STEPS: tuple[Callable[[UpContext], None], ...] = (
    connect,
    survey,
    check_scale_down,
    check_comeback,
    check_stranded_streams,
    prepare,
    image,
    preflight,
    network_and_volumes,
    release_left_armed,
    repair,
    start,
    first_election,
    scale_down,
    wait,
    reload_certificates,
    roll,
    departed_peers,
)


def run(ctx: UpContext) -> UpContext:
    """Run every step of `up` on `ctx`, in order; returns it with what the steps saw."""
    try:
        for run_step in UP_STEPS:
            run_step(ctx)
    finally:
        ctx.ports_bound()
    return ctx


def up(
    project: Project,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    force_certs: bool = False,
    forget_departed: bool = False,
    reporter: Reporter | None = None,
) -> UpContext:
    """Bring the cluster to the spec and wait until it is ready; returns what the steps saw.
    Each step reports to `reporter` (default: printed)."""
    options = UpOptions(
        project,
        timeout=timeout,
        force_certs=force_certs,
        forget_departed=forget_departed,
        reporter=reporter if reporter is not None else Reporter(),
    )
    return run(UpContext(options))

"""A fresh cluster's lost first meta-leader election: `up` starts it again at once, on
emptied new volumes, instead of waiting out nats-server's election timeout (4-9 s)."""

from __future__ import annotations

import time

from courtyard.checks import first_round
from courtyard.core.polling import poll
from courtyard.core.reporter import Recorder
from courtyard.lifecycle import up as up_steps
from courtyard.runtime import docker_objects, start_gate
from courtyard.runtime.teardown import down
from courtyard.servers.raftz import meta_vote
from tests.integration.conftest import quiet_up


def lose_the_first_round(ctx: up_steps.UpContext) -> None:
    """Start every node, but release the last server only once one of the others campaigns:
    its own campaign then crosses the first one in term 1, and the round is lost for real."""
    first, last = ctx.plan.start[:-1], ctx.plan.start[-1:]
    start_gate.arm(ctx.plan.start)
    started = time.monotonic()
    docker_objects.in_parallel(
        [lambda n=n: docker_objects.start_node(ctx.client, n, None) for n in ctx.plan.start]
    )
    ctx.start_seconds = time.monotonic() - started
    start_gate.release_containers(ctx.client, first)
    ports = dict(ctx.project.names.monitor_targets)
    poll(
        lambda: any(meta_vote(ports[n.name]).candidate for n in first),
        what="a first campaign",
        timeout=10,
        interval=0.02,
    )
    start_gate.release_containers(ctx.client, last)
    ctx.released_at = time.monotonic()


def test_a_lost_first_election_starts_the_fresh_nodes_again(docker_client, make_project):
    project = make_project()
    recorder = Recorder()
    ctx = up_steps.UpContext(up_steps.UpOptions(project, reporter=recorder))
    for step in (
        up_steps.connect,
        up_steps.survey,
        up_steps.prepare,
        up_steps.image,
        up_steps.preflight,
        up_steps.network_and_volumes,
    ):
        step(ctx)
    assert up_steps.starts_fresh(ctx)
    ctx.fresh_bootstrap = True
    lose_the_first_round(ctx)
    lost = first_round.watch(project.names.monitor_targets)
    assert lost.lost, lost
    assert "campaigned in the same term (1)" in lost.reason

    # The forced round was lost before the last server was released; time the decision from
    # now, as `up` makes it right after its release (tests/unit/test_up_steps.py has the rule).
    ctx.released_at = time.monotonic()
    assert up_steps.restart_is_sooner(up_steps.restart_seconds(ctx.start_seconds), 0.3)
    up_steps.first_election(ctx)
    up_steps.wait(ctx)
    output = recorder.text
    assert "First meta-leader election lost" in output, output
    assert "started the nodes again on emptied new volumes" in output
    # The lost round was term 1 with two candidates; a leader in term 1 means the group was
    # bootstrapped again from empty volumes and won its first round, no timeout waited out.
    votes = [meta_vote(port) for _, port in project.names.monitor_targets]
    assert [v.term for v in votes] == [1, 1, 1], votes
    assert sum(v.state == "LEADER" for v in votes) == 1


def test_a_restart_on_volumes_with_data_is_never_a_fresh_bootstrap(docker_client, own_cluster):
    down(docker_client, own_cluster)  # volumes kept, the meta group's state in them
    output = quiet_up(own_cluster)
    assert "0 volume(s) created" in output
    assert "First meta-leader election" not in output
    votes = [meta_vote(port) for _, port in own_cluster.names.monitor_targets]
    assert all(v.ever_had_leader and v.stored for v in votes), votes

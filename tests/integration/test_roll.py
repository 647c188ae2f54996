"""A spec change rolls the nodes one at a time and a 3-replica stream keeps every acked message."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading

import yaml

from courtyard.checks.natsclient import connect
from courtyard.checks.workload import PublishLog, create_stream, publish_until, stream_problems
from courtyard.commands.up import up
from courtyard.runtime import docker_objects
from courtyard.spec.project import load_project
from tests.helpers import deep_update, write_spec
from tests.integration.conftest import quiet_up


def test_spec_change_rolls_nodes_and_loses_no_acknowledged_message(docker_client, make_project):
    project = make_project()
    quiet_up(project)
    before = {c.name: c.id for c in docker_objects.our_containers(docker_client, project)}
    log, stop = PublishLog(), threading.Event()
    ready = threading.Event()

    async def publisher():
        nc = await connect(
            project, allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.1
        )
        js = nc.jetstream()
        await create_stream(js, name="ROLL", subjects=["roll.>"], num_replicas=3)
        ready.set()
        await publish_until(js, "roll.x", stop.is_set, log)
        problems = await stream_problems(js, "ROLL", log)
        await nc.close()
        return problems

    result: dict = {}

    def run_publisher():
        try:
            result["problems"] = asyncio.run(publisher())
        except Exception as exc:  # reported by the assertion below, not lost in the thread
            result["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run_publisher)
    thread.start()
    assert ready.wait(90)
    assert "error" not in result, result
    raw = yaml.safe_load(project.spec.path.read_text())
    write_spec(project.spec.root, deep_update(raw, {"jetstream": {"memory_store": "300Mi"}}))
    changed = load_project(project.spec.path)
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            up(changed, timeout=90)
    finally:
        stop.set()
        thread.join(120)
    rolled = [line for line in output.getvalue().splitlines() if "Rolling" in line]
    assert len(rolled) == 3, output.getvalue()
    after = {c.name: c.id for c in docker_objects.our_containers(docker_client, project)}
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)
    assert result.get("problems") == [], result
    assert len(log.acked) > 0

"""A spec change rolls the nodes one at a time and a 3-replica stream keeps every acked message."""

from __future__ import annotations

import yaml

from courtyard.core.reporter import Recorder
from courtyard.harness.drills import run_under_load
from courtyard.lifecycle.up import up
from courtyard.project.loaded import load_project
from courtyard.runtime import docker_objects
from courtyard.servers.natsclient import run_quietly
from tests.helpers import deep_update, write_spec
from tests.integration.conftest import quiet_up


def test_spec_change_rolls_nodes_and_loses_no_acknowledged_message(docker_client, make_project):
    project = make_project()
    quiet_up(project)
    before = {c.name: c.id for c in docker_objects.our_containers(docker_client, project)}
    raw = yaml.safe_load(project.spec.path.read_text())
    write_spec(project.spec.root, deep_update(raw, {"jetstream": {"memory_store": "300Mi"}}))
    changed = load_project(project.spec.path)
    recorder = Recorder()
    report, _ = run_quietly(
        run_under_load(project, lambda: up(changed, timeout=90, reporter=recorder))
    )
    rolled = [line for line in recorder.lines if "Rolling" in line]
    assert len(rolled) == 3, recorder.text
    after = {c.name: c.id for c in docker_objects.our_containers(docker_client, project)}
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)
    assert report.lost == 0 and report.problems == [], report
    assert report.acked > 0

"""`helm upgrade` of a 0.x release, rehearsed on the real engine: the pods the 0.19.17 chart
renders, replaced one at a time by the pods the 2.14.2 chart renders from the upgrade export,
on the same volumes, under an acknowledged publisher."""

from __future__ import annotations

import pytest

from courtyard.artefacts import nodeconf
from courtyard.artefacts.certs import ensure_certs
from courtyard.harness.upgrade_rehearsal import files_folder, rehearse
from courtyard.helm import chart as helm_chart
from courtyard.helm import importer as helm_import
from courtyard.helm import pods as chart_pods
from courtyard.helm import values_file
from courtyard.helm.upgrade import render_upgrade, upgrade_parity
from courtyard.runtime import docker_objects
from courtyard.runtime.image import ensure_image
from courtyard.servers import monitor
from courtyard.servers.natsclient import run_quietly
from tests.helpers import CURRENT_CHART, LEGACY_CHART, REPO, real_chart
from tests.integration.conftest import quiet_up, test_project

pytestmark = pytest.mark.docker


def test_the_upgraded_release_keeps_every_acknowledged_message(make_project, docker_client):
    legacy = helm_chart.load(real_chart(LEGACY_CHART))
    current = helm_chart.load(real_chart(CURRENT_CHART))
    # cluster_name "nats": the 0.x chart's own default, as import-helm writes it.
    project = make_project({"helm": {"layout": "legacy"}, "cluster_name": "nats"})
    ensure_certs(project.spec, project.names, project.layout)
    nodeconf.write_configs(project.spec, project.names, project.layout)
    assert upgrade_parity(project, legacy, current).ok

    old_objects, new_objects = render_upgrade(project, legacy, current)
    folder = files_folder(project)
    old_pods = chart_pods.pods_of(old_objects, project, folder / "0.x")
    new_pods = chart_pods.pods_of(new_objects, project, folder / "upgrade")
    image = ensure_image(docker_client).tag
    chart_pods.run_release(docker_client, project, old_pods, image)
    volumes_before = {v.name for v in docker_client.volumes.list(filters=project.names.selector)}
    assert volumes_before == {f"{project.names.fullname}-js-pvc-{pod.name}" for pod in old_pods}

    report = run_quietly(rehearse(docker_client, project, old_pods, new_pods, image))

    assert [pod for pod, _, _ in report.replaced] == [pod.name for pod in reversed(new_pods)]
    assert report.lost == 0 and report.problems == [], report.problems
    assert report.acked > 0
    assert report.stream_messages == report.acked
    assert report.consumer_pending == report.acked, "the durable consumer kept its place"
    # Same volumes (no new claim), every pod now on the 2.14.2 config, one cluster "nats".
    volumes_after = {v.name for v in docker_client.volumes.list(filters=project.names.selector)}
    assert volumes_after == volumes_before
    for pod in new_pods:
        container = docker_client.containers.get(pod.name)
        assert any("/upgrade/" in m["Source"] for m in container.attrs["Mounts"])
        varz = monitor.get(project.names.monitor_host_port(pod.index), "/varz").body
        assert varz["cluster"]["name"] == "nats"


def test_an_imported_values_file_runs_locally_as_it_asks(make_project, docker_client, tmp_path):
    """import-helm, then `up`: the original file's three nodes, its JetStream sizes, the 0.x
    names (cluster "nats", volumes named like the 0.x PVCs)."""
    shape = REPO / "tests" / "fixtures" / "skunkwolf-shape.yaml"
    result = helm_import.import_values(values_file.read(shape))
    imported = tmp_path / "imported" / "config" / "courtyard.yaml"
    imported.parent.mkdir(parents=True)
    helm_import.write_spec(result, imported)
    # What the import wrote, with this test's own release and free host ports.
    project = test_project(tmp_path / "run", changes=None, template=imported)
    try:
        quiet_up(project)
        names = project.names
        volumes = {v.name for v in docker_client.volumes.list(filters=names.selector)}
        assert volumes == {f"{names.fullname}-js-pvc-{pod}" for pod in names.pods}
        for index in range(3):
            varz = monitor.get(names.monitor_host_port(index), "/varz").body
            assert varz["cluster"]["name"] == "nats"
            assert varz["jetstream"]["config"]["max_memory"] == 2 * 2**30
            assert varz["jetstream"]["config"]["max_storage"] == 10 * 2**30
    finally:
        docker_objects.purge(docker_client, project)

"""--verify through the Helm SDK: the real charts (2.14.2 current, 0.19.17 legacy) from
../shared/charts, and the SDK plumbing on a tiny fixture chart everywhere."""

from __future__ import annotations

import pytest

from courtyard.artefacts import nodeconf
from courtyard.artefacts.certs import ensure_certs
from courtyard.artefacts.node_containers import node_definitions
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm.verify import render, verify
from courtyard.project import naming
from tests.helpers import CURRENT_CHART, LEGACY_CHART, REPO, real_chart

pytest.importorskip("helm_python", reason="the [helm] extra is not installed")

MINI_CHART = REPO / "tests" / "fixtures" / "mini-chart"


@pytest.fixture
def prepared(project_factory):
    def make(changes=None):
        project = project_factory(changes)
        ensure_certs(project.spec, project.names, project.layout)
        nodeconf.write_configs(project.spec, project.names, project.layout)
        return project

    return make


def test_sdk_renders_a_chart_folder_and_finds_real_differences(prepared):
    report = verify(prepared(), MINI_CHART)
    keys = {row[0] for row in report.unexpected}
    assert "cluster.routes" in keys and "jetstream.store_dir" in keys
    assert not report.ok
    expected = {row[0] for row in report.differences if row[3]}
    assert "server_name" in expected
    hosts = {host for _, host, _ in report.coverage}
    assert "skunkwolf-nats-0.skunkwolf-nats-headless" in hosts
    assert "skunkwolf-nats.default.svc.cluster.local" in hosts
    assert all(served for _, _, served in report.coverage)


def test_missing_chart_path_is_one_sentence(prepared, tmp_path):
    with pytest.raises(CourtyardError, match="does not exist"):
        verify(prepared(), tmp_path / "nope")


@pytest.mark.parametrize("changes", [{}, {"routes": {"use_fqdn": True}}])
def test_real_chart_renders_the_same_cluster(prepared, changes):
    report = verify(prepared(changes), real_chart(CURRENT_CHART))
    assert report.unexpected == []
    assert report.uncovered == []
    assert {row[0] for row in report.differences} <= {"server_name", "pid_file"} | {
        row[0] for row in report.differences if row[3] == "file path"
    }


def test_real_chart_enforces_the_same_users_and_permissions(prepared):
    project = prepared()
    report = verify(project, real_chart(CURRENT_CHART))
    assert report.authorization == (
        "5 certificate users (2 restricted) in $SYS, APP, orders, payments, system account "
        "$SYS, verify_and_map on"
    )
    assert not report.authorization_differs

    local = project.layout.node_config(project.names.pod(0))
    local.write_text(local.read_text().replace('"orders.>"', '"orders.created"', 1))
    report = verify(project, real_chart(CURRENT_CHART))
    assert report.authorization_differs
    assert any(row[0].startswith("accounts.") for row in report.unexpected)


def test_the_charts_reloader_watches_every_certificate_folder_the_nats_container_mounts(
    prepared,
):
    """In Kubernetes, rotation is the chart's reloader seeing updated Secrets; it only sees
    the folders it mounts too. Locally the nodes mount the same folders."""
    project = prepared()
    chart = helm_chart.load(real_chart(CURRENT_CHART))
    statefulset = next(o for o in render(project, chart) if o.get("kind") == "StatefulSet")
    containers = {c["name"]: c for c in statefulset["spec"]["template"]["spec"]["containers"]}
    assert "reloader" in containers, "the export must keep the chart's reloader enabled"

    def mounts(container: str) -> set[str]:
        return {m["mountPath"] for m in containers[container].get("volumeMounts") or []}

    certificate_folders = {naming.ROUTE_TLS_DIR, naming.CLIENT_TLS_DIR, naming.CA_DIR}
    assert certificate_folders <= mounts("nats")
    assert certificate_folders <= mounts("reloader")
    node = node_definitions(project, "img")[0]
    assert certificate_folders <= set(dict(node.mounts))


@pytest.mark.parametrize("changes", [{}, {"replicas": 5, "namespace": "msg"}])
def test_the_legacy_chart_renders_the_same_cluster(prepared, changes):
    """0.19.17, read in its classic nats.conf syntax (bare route URLs, `http: 8222`)."""
    project = prepared({"helm": {"layout": "legacy"}, **changes})
    report = verify(project, real_chart(LEGACY_CHART))
    assert report.unexpected == [], report.unexpected
    assert report.uncovered == []
    assert "verify_and_map on" in report.authorization


def test_a_chart_of_the_other_layout_is_one_sentence_not_a_yaml_traceback(prepared):
    """0.19.17 renders NOTES.txt too; the current layout against it is named, not parsed."""
    with pytest.raises(CourtyardError, match=r"version 0\.19\.17.*legacy values layout.*--chart"):
        verify(prepared(), real_chart(LEGACY_CHART))
    with pytest.raises(CourtyardError, match=r"version 2\.14\.2.*current values layout"):
        verify(prepared({"helm": {"layout": "legacy"}}), real_chart(CURRENT_CHART))


def test_a_folder_that_is_not_a_chart_is_one_sentence(prepared, tmp_path):
    with pytest.raises(CourtyardError, match=r"is not a Helm chart \(it has no Chart\.yaml"):
        verify(prepared(), tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "Chart.yaml").write_text("apiVersion: v2\nname: redis\nversion: 1.0.0\n")
    with pytest.raises(CourtyardError, match="is the chart 'redis', not nats/nats"):
        verify(prepared(), other)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(CourtyardError, match="is not a Helm chart that loads"):
        verify(prepared(), broken)

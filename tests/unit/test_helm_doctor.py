"""helm-doctor and import-helm against the real charts: what a values file really deploys."""

from __future__ import annotations

import base64
import json
import resource
import shutil
import subprocess
import sys

import pytest
import yaml

from courtyard.artefacts.certs import ensure_certs
from courtyard.core.errors import CourtyardError
from courtyard.helm import chart as helm_chart
from courtyard.helm import doctor as helm_doctor
from courtyard.helm import importer as helm_import
from courtyard.helm import upgrade as helm_upgrade
from courtyard.helm import values as helm_values
from courtyard.helm import values_file
from courtyard.project.load import load_spec
from tests.helpers import CURRENT_CHART, LEGACY_CHART, REPO, invoke, real_chart

SKUNKWOLF = REPO.parent / "shared" / "examples" / "skunkwolf-nats-config.yaml"


@pytest.fixture
def skunkwolf_file(tmp_path):
    """The original Skunkwolf file (three documents), or a copy of its shape when absent."""
    target = tmp_path / "nats-config.yaml"
    if SKUNKWOLF.is_file():
        shutil.copy(SKUNKWOLF, target)
    else:
        target.write_text((REPO / "tests" / "fixtures" / "skunkwolf-shape.yaml").read_text())
    return target


def diagnose(path, version, release="skunkwolf-nats"):
    chart = helm_chart.load(real_chart(version))
    return helm_doctor.diagnose(values_file.read(path), chart, release, "default")


def test_the_original_file_on_todays_chart_is_one_plain_node_and_says_why(skunkwolf_file):
    d = diagnose(skunkwolf_file, CURRENT_CHART)
    dep = d.deployment
    assert (dep.replicas, dep.cluster, dep.route_tls, dep.client_tls, dep.jetstream) == (
        1,
        False,
        "off",
        "off",
        None,
    )
    nearest = {u.path: u.nearest for u in d.unread}
    assert nearest["jetstream.enabled"] == "config.jetstream.enabled"
    assert nearest["cluster.replicas"] == "config.cluster.replicas"
    assert nearest["jetstream.memStorage.size"] == "config.jetstream.memoryStore.maxSize"
    assert len(d.problems) == 3
    assert any("asks for a cluster" in p and "1 replica" in p for p in d.problems)
    assert any("TLS secret" in p for p in d.problems)
    assert any("JetStream" in p for p in d.problems)
    assert any("only the first YAML document" in n for n in d.notes)
    assert any("placeholders" in n for n in d.notes)


def test_the_original_file_on_the_legacy_chart_clusters_but_has_no_jetstream(skunkwolf_file):
    d = diagnose(skunkwolf_file, LEGACY_CHART)
    dep = d.deployment
    assert dep.replicas == 3 and dep.cluster and len(dep.routes) == 3
    assert dep.route_tls.startswith("on, mutual")
    assert dep.jetstream is None
    [secret] = dep.secrets
    assert secret.name == "skunkwolf-nats-tls" and secret.in_file and secret.placeholders
    assert {u.path: u.nearest for u in d.unread}["jetstream.enabled"] == "nats.jetstream.enabled"
    assert d.problems == [
        "the file sets JetStream keys (jetstream.enabled) but the chart renders no JetStream"
    ]


@pytest.mark.parametrize(
    ("layout", "version"), [("current", CURRENT_CHART), ("legacy", LEGACY_CHART)]
)
def test_courtyards_own_export_deploys_what_it_asks_and_every_key_counts(
    project_factory, tmp_path, layout, version
):
    project = project_factory({"helm": {"layout": layout}})
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(helm_values.values(project)))
    d = diagnose(path, version)
    dep = d.deployment
    assert d.problems == []
    assert dep.replicas == 3 and dep.cluster_name == "skunkwolf-nats"
    assert dep.route_tls.startswith("on, mutual") and "verify_and_map" in dep.client_tls
    assert dep.jetstream == {"memory_store": 256 * 2**20, "file_store": 2**30, "store_dir": "/data"}
    assert [p["name"] for p in dep.pvcs] == [project.names.pvc_name]
    assert {s.name for s in dep.secrets} >= {
        project.names.route_secret,
        project.names.client_secret,
    }
    # Every key is one the chart knows: what changes nothing only repeats what it would do.
    assert {u.why for u in d.unread} <= {"same as the chart's default", "no effect here"}
    assert all(u.nearest is None for u in d.unread)


def test_values_file_errors_are_one_sentence(tmp_path):
    cases = {
        "missing.yaml": (None, "does not exist"),
        "broken.yaml": ("cluster: [unclosed\n", "is not valid YAML at line"),
        "list.yaml": ("- a\n- b\n", "is a list, not a mapping of keys"),
        "objects.yaml": ("apiVersion: v1\nkind: Service\n", "holds only Kubernetes objects"),
        "empty.yaml": ("", "is empty"),
        "twice.yaml": ("cluster: {}\ncluster: {}\n", "gives key 'cluster' twice"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(CourtyardError, match=expected) as err:
            values_file.read(path)
        assert "\n" not in str(err.value)


# Replica counts the charts loop over (a route per node) that would render without end.
HUGE_COUNTS = [
    ("config:\n  cluster:\n    enabled: true\n    replicas: 1000000000000000000000000000000\n"),
    "cluster:\n  enabled: true\n  replicas: 1.0e+30\n",
    "config:\n  cluster:\n    replicas: '0x7fffffffffffffff'\n",
    "config:\n  cluster:\n    replicas: -1000000000000\n",
    "config:\n  cluster:\n    replicas: .nan\n",
]


@pytest.mark.parametrize("text", HUGE_COUNTS)
def test_a_replica_count_the_chart_would_loop_over_forever_is_refused_before_rendering(
    tmp_path, text
):
    path = tmp_path / "values.yaml"
    path.write_text(text)
    with pytest.raises(CourtyardError, match="the doctor renders at most 100") as err:
        helm_doctor.check_renderable(values_file.read(path), "nats", "default")
    assert "\n" not in str(err.value)


def test_the_doctor_refuses_a_huge_replica_count_with_bounded_memory(tmp_path):
    """The whole task, as a user runs it, under a 6 GiB address-space limit: without the
    bound the render grows until it is refused memory (or the timeout ends it)."""
    path = tmp_path / "values.yaml"
    path.write_text(HUGE_COUNTS[0])

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "helm-doctor", str(path), "--chart",
         str(real_chart(CURRENT_CHART))],
        capture_output=True, text=True, timeout=120, preexec_fn=limited, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "sets config.cluster.replicas to 1000000000000000000000000000000" in proc.stderr


@pytest.mark.parametrize(
    ("release", "namespace", "named"),
    [("../x", "default", "release"), ("nats", "A B", "namespace"), ("", "default", "release")],
)
def test_the_doctor_refuses_a_release_or_namespace_kubernetes_would_refuse(
    skunkwolf_file, release, namespace, named
):
    with pytest.raises(CourtyardError, match=f"the {named} .* is not a DNS-1123 name"):
        helm_doctor.check_renderable(values_file.read(skunkwolf_file), release, namespace)


def test_the_cli_prints_json_and_fails_on_an_evident_mismatch(skunkwolf_file, tmp_path):
    chart = real_chart(CURRENT_CHART)
    proc = invoke("helm-doctor", str(skunkwolf_file), "--chart", str(chart), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["deployment"]["replicas"] == 1 and len(report["problems"]) == 3
    assert "Traceback" not in proc.stderr

    not_a_chart = tmp_path / "empty-folder"
    not_a_chart.mkdir()
    proc = invoke("helm-doctor", str(skunkwolf_file), "--chart", str(not_a_chart))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("courtyard: ")
    assert "is not a Helm chart (it has no Chart.yaml)" in proc.stderr
    assert "Traceback" not in proc.stderr


# import-helm ---------------------------------------------------------------------------------
def test_import_reads_the_intent_of_the_original_file(skunkwolf_file, tmp_path):
    result = helm_import.import_values(values_file.read(skunkwolf_file))
    target = tmp_path / "config" / "imported.yaml"
    target.parent.mkdir()
    helm_import.write_spec(result, target)
    spec = load_spec(target)
    assert (spec.release, spec.namespace, spec.replicas) == ("skunkwolf-nats", "default", 3)
    assert (spec.jetstream.memory_store, spec.jetstream.file_store) == ("2Gi", "10Gi")
    assert spec.chart_layout == "legacy" and spec.cluster_name == "nats"
    rows = {row[0]: row[2] for row in result.mapped}
    assert rows["jetstream.memory_store"].startswith("jetstream.memStorage.size (misplaced")
    assert {row[0] for row in result.own_way} >= {"cluster.tls.secret.name"}

    before = target.read_text()
    with pytest.raises(CourtyardError, match="already exists; pass --out"):
        helm_import.write_spec(result, target)
    assert target.read_text() == before


def test_import_takes_the_extra_sans_of_a_real_certificate(project_factory, tmp_path):
    project = project_factory({"tls": {"extra_sans": ["DNS:nats.prod.example.com"]}})
    ensure_certs(project.spec, project.names, project.layout)
    cert = project.layout.cert("server").read_bytes()
    values = {"config": {"cluster": {"enabled": True, "replicas": 3}}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "skunkwolf-nats-tls"},
        "data": {"tls.crt": base64.b64encode(cert).decode()},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump_all([values, secret]))
    result = helm_import.import_values(values_file.read(path))
    # Derived names are not repeated; only the one the spec could not derive is kept.
    assert result.raw["tls"]["extra_sans"] == ["DNS:nats.prod.example.com"]
    assert result.release == "skunkwolf-nats"


def test_import_round_trips_courtyards_own_current_export(project_factory, tmp_path):
    project = project_factory({"replicas": 5, "jetstream": {"file_store": "4Gi"}})
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(helm_values.values(project)))
    result = helm_import.import_values(values_file.read(path), release="skunkwolf-nats")
    target = tmp_path / "spec.yaml"
    helm_import.write_spec(result, target)
    spec = load_spec(target)
    assert spec.chart_layout == "current"
    assert (spec.replicas, spec.jetstream.file_store, spec.ports) == (5, "4Gi", project.spec.ports)
    # Only the users and permissions are left: the spec derives them from tls.clients.
    assert {row[0].split(".")[1] for row in result.unmapped} == {"merge"}, result.unmapped
    assert all("tls.clients" in row[1] for row in result.unmapped)


# export-helm --upgrade-from legacy -----------------------------------------------------------
@pytest.fixture
def upgrade_charts():
    return helm_chart.load(real_chart(LEGACY_CHART)), helm_chart.load(real_chart(CURRENT_CHART))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"replicas": 5, "namespace": "msg", "cluster_domain": "corp.local"},
        {"fullname_override": "bus", "cluster_name": "nats", "routes": {"use_fqdn": False}},
    ],
)
def test_the_upgrade_keeps_what_a_statefulset_cannot_change(
    project_factory, upgrade_charts, changes
):
    project = project_factory({"helm": {"layout": "legacy"}, **changes})
    ensure_certs(project.spec, project.names, project.layout)
    report = helm_upgrade.upgrade_parity(project, *upgrade_charts)
    assert report.differing == [], report.differing
    assert report.uncovered == []
    fields = {name: old for name, old, _ in report.fields}
    assert fields["StatefulSet spec.volumeClaimTemplates names"] == [project.names.pvc_name]
    assert fields["StatefulSet spec.serviceName"] == project.names.fullname
    assert len(fields["route hosts"]) == project.spec.replicas


@pytest.mark.parametrize(
    ("dropped", "field"),
    [
        ("headlessService", "StatefulSet spec.serviceName"),
        ("statefulSet", "StatefulSet spec.selector"),
    ],
)
def test_an_upgrade_without_a_prescribed_setting_fails_naming_the_field(
    project_factory, upgrade_charts, monkeypatch, dropped, field
):
    project = project_factory({"helm": {"layout": "legacy"}})
    ensure_certs(project.spec, project.names, project.layout)
    upgrade = helm_upgrade.upgrade_values

    def without(p):
        values = upgrade(p)
        del values[dropped]
        return values

    monkeypatch.setattr(helm_upgrade, "upgrade_values", without)
    report = helm_upgrade.upgrade_parity(project, *upgrade_charts)
    assert report.differing[0][0] == field
    assert not report.ok


def test_the_upgrade_export_refuses_a_current_spec_and_unknown_sources(project_factory):
    from courtyard.commands.exports import check_upgrade_source

    with pytest.raises(CourtyardError, match=r"needs the spec of the 0\.x release"):
        helm_upgrade.export_upgrade(project_factory())
    with pytest.raises(CourtyardError, match="is not known; the only release"):
        check_upgrade_source("v1")
    check_upgrade_source("legacy")
    check_upgrade_source(None)


def test_replicas_kubernetes_would_refuse_is_one_sentence(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text('config:\n  cluster:\n    enabled: true\n    replicas: "three"\n')
    with pytest.raises(CourtyardError, match="render the StatefulSet's replicas as 'three'") as err:
        diagnose(path, CURRENT_CHART)
    assert "\n" not in str(err.value)

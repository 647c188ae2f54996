"""export-helm: key paths the chart knows, secrets that decode to certs/, names that agree."""

from __future__ import annotations

import base64
import stat
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from courtyard.artefacts import natsconf, nodeconf
from courtyard.artefacts.certs import ensure_certs
from courtyard.artefacts.tlscheck import serves
from courtyard.core.errors import CourtyardError
from courtyard.helm import values as helm_values
from courtyard.helm.export import export_helm, kubectl_commands, secret_manifests
from tests.helpers import REPO

# The chart's default values (nats/nats 2.14.2), kept with the tests; the shared copy beside
# the repository is the source, and a test below notices when the two drift apart.
REFERENCE = REPO / "tests" / "fixtures" / "nats-helm-chart-values.yaml"
SHARED_REFERENCE = REPO.parent / "shared" / "reference" / "nats-helm-chart-values.yaml"


def reference_values():
    return yaml.safe_load(REFERENCE.read_text())


@pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="no shared/ folder beside the repo")
def test_kept_reference_values_match_the_shared_copy():
    assert REFERENCE.read_text() == SHARED_REFERENCE.read_text()


def has_path(tree, path):
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


@pytest.fixture
def exported(project_factory, tmp_path):
    def make(changes=None):
        project = project_factory(changes)
        ensure_certs(project.spec, project.names, project.layout)
        nodeconf.write_configs(project.spec, project.names, project.layout)
        return project, export_helm(project, tmp_path / "out")

    return make


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"routes": {"use_fqdn": True}},
        {"fullname_override": "bus", "cluster_name": "east"},
    ],
)
def test_every_exported_key_path_exists_in_the_chart_defaults(exported, changes):
    project, _ = exported(changes)
    reference = reference_values()
    paths = helm_values.key_paths(helm_values.current_values(project))
    missing = [p for p in paths if not has_path(reference, p)]
    assert missing == []
    if "cluster_name" in changes:
        assert "config.cluster.merge" in paths


def test_values_carry_the_spec(exported):
    project, result = exported(
        {"routes": {"use_fqdn": True}, "jetstream": {"memory_store": "512MB", "file_store": "2Gi"}}
    )
    values = yaml.safe_load((result.out / "values.yaml").read_text())
    cluster = values["config"]["cluster"]
    assert cluster["replicas"] == 3 and cluster["tls"]["enabled"]
    assert cluster["routeURLs"] == {"useFQDN": True, "k8sClusterDomain": "cluster.local"}
    assert values["config"]["nats"]["tls"]["merge"] == {"verify_and_map": True}
    js = values["config"]["jetstream"]
    assert js["memoryStore"]["maxSize"] == "512Mi"
    assert js["fileStore"]["pvc"]["size"] == js["fileStore"]["maxSize"] == "2Gi"
    assert values["container"]["image"]["tag"] == f"{helm_values.chart_version()}-alpine"
    assert "fullnameOverride" not in values
    assert values["tlsCA"] == {
        "enabled": True,
        "secretName": project.names.ca_secret,
        "key": "ca.crt",
    }


def test_secrets_decode_to_the_files_under_certs_and_names_agree(exported):
    project, result = exported()
    docs = list(yaml.safe_load_all(result.secrets.read_text()))
    by_name = {d["metadata"]["name"]: d for d in docs}
    layout = project.layout
    values = yaml.safe_load((result.out / "values.yaml").read_text())
    route = by_name[values["config"]["cluster"]["tls"]["secretName"]]
    server = by_name[values["config"]["nats"]["tls"]["secretName"]]
    ca = by_name[values["tlsCA"]["secretName"]]

    def decoded(doc, key):
        return base64.b64decode(doc["data"][key])

    assert route["type"] == server["type"] == "kubernetes.io/tls"
    assert decoded(route, "tls.crt") == layout.cert("route").read_bytes()
    assert decoded(route, "tls.key") == layout.key("route").read_bytes()
    assert decoded(server, "tls.crt") == layout.cert("server").read_bytes()
    assert decoded(server, "tls.key") == layout.key("server").read_bytes()
    assert decoded(ca, "ca.crt") == layout.ca_cert.read_bytes()
    assert {d["metadata"]["namespace"] for d in docs} == {"default"}


def test_output_modes_and_no_secrets(exported, tmp_path):
    project, result = exported()
    assert stat.S_IMODE(result.secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE((result.out / "values.yaml").stat().st_mode) == 0o644
    again = export_helm(project, tmp_path / "out", secrets=False)
    assert again.secrets is None and not (tmp_path / "out" / "secrets.yaml").exists()
    assert len(again.kubectl) == 3 and "create secret" in again.kubectl[0]
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "helm upgrade --install skunkwolf-nats nats/nats" in readme
    assert kubectl_commands(project)[2].endswith(
        f"ca.crt={project.layout.secrets / 'ca' / 'ca.crt'}"
    )


def test_secrets_refuse_a_tracked_folder(exported, tmp_path):
    # A git work tree of the test's own: the suite may run from a copy without .git.
    tree = tmp_path / "tree"
    tree.mkdir()
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    project, _ = exported()
    with pytest.raises(CourtyardError, match="tracked by git"):
        export_helm(project, tree / "config" / "not-yet" / "deeper")
    assert not (tree / "config").exists()


def test_secrets_refuse_a_work_tree_when_git_cannot_be_asked(exported, tmp_path, monkeypatch):
    project, _ = exported()
    tree = tmp_path / "tree"
    (tree / ".git").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    with pytest.raises(CourtyardError, match="git cannot be asked") as err:
        export_helm(project, tree / "deploy")
    assert "--no-secrets" in str(err.value)
    assert not (tree / "deploy").exists()
    export_helm(project, tree / "deploy", secrets=False)  # no keys: no need to ask git


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("project-readme", ["holds README.md", "did not write"]),
        ("edited-values", ["holds values.yaml", "changed since"]),
        ("a-file", ["is a file, not a folder"]),
    ],
)
def test_an_export_writes_only_into_a_folder_it_owns(exported, tmp_path, setup, words):
    project, _ = exported()
    out = tmp_path / "target"
    if setup == "project-readme":
        out.mkdir()
        (out / "README.md").write_text("# My project\n")
        (out / "secrets.yaml").write_text("mine\n")
    elif setup == "edited-values":
        export_helm(project, out, secrets=False)
        (out / "values.yaml").write_text((out / "values.yaml").read_text() + "# my edit\n")
    else:
        out.write_text("a file\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for secrets in (True, False):
        with pytest.raises(CourtyardError) as err:
            export_helm(project, out, secrets=secrets)
        assert all(word in str(err.value) for word in words)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_folder_exported_before_the_manifest_is_still_ours(exported, tmp_path):
    project, result = exported()
    (result.out / ".courtyard-export.json").unlink()
    again = export_helm(project, result.out, secrets=False)
    assert not (result.out / "secrets.yaml").exists()
    assert {p.name for p in again.written} == {"values.yaml", "README.md"}


@pytest.mark.parametrize("layout", ["current", "legacy"])
@pytest.mark.parametrize("use_fqdn", [False, True])
def test_route_certificate_serves_every_route_host_the_chart_renders(exported, layout, use_fqdn):
    project, _ = exported({"helm": {"layout": layout}, "routes": {"use_fqdn": use_fqdn}})
    hosts = {urlsplit(url).hostname for url in project.names.route_urls}
    # the chart renders both forms depending on useFQDN; the certificate serves both
    hosts |= {project.names.pod_host(i) for i in range(3)}
    hosts |= {project.names.pod_fqdn(i) for i in range(3)}
    layout_files = project.layout
    for host in hosts:
        assert serves(
            layout_files.cert("route"), layout_files.key("route"), layout_files.ca_cert, host
        ), host


def test_legacy_values_layout(exported):
    project, result = exported({"helm": {"layout": "legacy"}})
    values = yaml.safe_load((result.out / "values.yaml").read_text())
    assert values["cluster"]["enabled"] and values["cluster"]["replicas"] == 3
    assert values["cluster"]["tls"]["secret"]["name"] == project.names.route_secret
    assert values["nats"]["tls"]["secret"]["name"] == project.names.client_secret
    assert values["nats"]["jetstream"]["memStorage"]["size"] == "256Mi"
    assert values["nats"]["jetstream"]["fileStorage"]["size"] == "1Gi"
    # The 0.x chart reads nats.image as a map (a string makes Helm warn and drop it).
    assert values["nats"]["image"] == {
        "repository": "nats",
        "tag": f"{helm_values.chart_version()}-alpine",
    }
    # The 0.x chart names the cluster "nats" unless told: the export names it as locally.
    assert values["cluster"]["name"] == project.names.cluster_name == "skunkwolf-nats"
    assert {d["metadata"]["name"] for d in secret_manifests(project)} >= {
        project.names.route_secret,
        project.names.client_secret,
    }


LOCAL = """
server_name: "n-0"
port: 4222
tls { cert_file: "/etc/nats-certs/nats/tls.crt", verify: true }
cluster { name: "n", routes [ "tls://n-0.n-headless:6222" ] }
jetstream { max_memory_store: 256Mi, store_dir: "/data" }
"""


def chart_conf(**overrides):
    base = {
        "server_name": "$SERVER_NAME",
        "port": 4222,
        "pid_file": "/var/run/nats/nats.pid",
        "tls": {"cert_file": "/etc/nats-certs/nats/tls.crt", "verify": True},
        "cluster": {"name": "n", "routes": ["tls://n-0.n-headless:6222"]},
        "jetstream": {"max_memory_store": 268435456, "store_dir": "/data"},
    }
    base.update(overrides)
    return base


def test_compare_equal_but_for_expected_differences():
    rows = natsconf.compare(natsconf.parse_conf(LOCAL), chart_conf())
    assert {row[0] for row in rows} == {"server_name", "pid_file"}
    assert all(row[3] for row in rows)


def test_compare_path_only_differences_are_expected():
    rows = natsconf.compare(
        natsconf.parse_conf(LOCAL), chart_conf(tls={"cert_file": "/other/tls.crt", "verify": True})
    )
    path_rows = [row for row in rows if row[0] == "tls.cert_file"]
    assert path_rows and path_rows[0][3] == "file path"


def test_compare_reports_a_real_difference():
    rows = natsconf.compare(
        natsconf.parse_conf(LOCAL), chart_conf(tls={"cert_file": "/etc/nats-certs/nats/tls.crt"})
    )
    real = [row for row in rows if row[3] is None]
    assert real == [("tls.verify", True, None, None)]


def test_parser_reads_the_charts_json_form():
    text = """{
      "http_port": 8222,
      "jetstream": {"max_file_store": 10Gi, "max_memory_store": 0, "store_dir": "/data"},
      "lame_duck_duration": "30s",
      "server_name": $SERVER_NAME,
      include ./extra.conf;
    }"""
    parsed = natsconf.parse_conf(text)
    assert parsed["jetstream"]["max_file_store"] == 10 * 2**30
    assert parsed["server_name"] == "$SERVER_NAME"
    assert parsed["include"] == ["./extra.conf"]
    assert parsed["lame_duck_duration"] == "30s"

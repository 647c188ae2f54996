"""The pytest plugin's pure parts and how it behaves before any cluster is involved."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from courtyard.harness.projects import throwaway_project
from courtyard.project.loaded import load_project
from courtyard.testing.namespace import Namespace
from courtyard.testing.session import THROWAWAY_RELEASE, SessionOptions, find_spec
from tests.helpers import write_spec


def test_a_namespace_prefixes_subjects_streams_and_buckets():
    namespace = Namespace("cy0123abcd")
    assert namespace.subject("orders.created.>") == "cy0123abcd.orders.created.>"
    assert namespace.stream("ORDERS") == "cy0123abcd_ORDERS"
    assert namespace.bucket("orders-config") == "cy0123abcd_orders-config"


def test_a_namespace_owns_its_streams_and_those_behind_its_buckets_only():
    namespace = Namespace("cy0123abcd")
    owned = ["cy0123abcd_ORDERS", "KV_cy0123abcd_config", "OBJ_cy0123abcd_files"]
    foreign = ["ORDERS", "cy0123abce_ORDERS", "KV_config", "xcy0123abcd_ORDERS", "cy0123abcd"]
    assert [namespace.owns_stream(name) for name in owned] == [True] * 3
    assert [namespace.owns_stream(name) for name in foreign] == [False] * 5


def test_new_namespaces_never_repeat():
    assert len({Namespace.new().prefix for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n: n.stream("ORD.ERS"), "stream 'ORD.ERS' is not a stream or bucket name"),
        (lambda n: n.bucket("my bucket"), "bucket 'my bucket' is not a stream or bucket name"),
        (lambda n: n.subject("orders..created"), "not a NATS subject"),
        (lambda n: n.subject(""), "not a NATS subject"),
    ],
)
def test_a_name_jetstream_would_refuse_is_refused_with_a_sentence(make, message):
    with pytest.raises(ValueError, match=message):
        make(Namespace("cy0123abcd"))


def test_a_throwaway_spec_keeps_the_template_but_takes_its_own_names_and_ports(tmp_path):
    template = write_spec(
        tmp_path / "project",
        {"fullname_override": "hub", "replicas": 5, "jetstream": {"file_store": "2Gi"}},
    )
    project = throwaway_project(
        tmp_path / "throwaway", prefix=THROWAWAY_RELEASE, template=template, host_base=21000
    )
    original = load_project(template)

    assert project.spec.jetstream == original.spec.jetstream
    assert project.spec.replicas == 5
    assert project.names.fullname.startswith("courtyard-pytest-")
    assert not set(project.names.pods) & set(original.names.pods)
    assert project.names.client_urls[0] == "tls://localhost:21000"
    assert project.names.monitor_targets[0][1] == 21005
    assert project.names.cluster_host_port(4) == 21014
    again = throwaway_project(
        tmp_path / "again", prefix=THROWAWAY_RELEASE, template=template, host_base=21000
    )
    assert again.spec.release != project.spec.release


def test_a_throwaway_project_without_a_base_takes_free_ports_for_its_replicas(tmp_path):
    project = throwaway_project(tmp_path, prefix="cyt", changes={"replicas": 2})
    ports = [
        port
        for i in range(2)
        for port in (
            project.names.client_host_port(i),
            project.names.monitor_host_port(i),
            project.names.cluster_host_port(i),
        )
    ]
    assert project.spec.replicas == 2 and len(set(ports)) == 6
    assert max(ports) - min(ports) == 5  # one block, nothing in between


def test_the_spec_is_the_option_else_the_environment_else_the_rootdirs(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "courtyard.yaml").write_text("replicas: 3\n")
    explicit, from_env = tmp_path / "a.yaml", tmp_path / "b.yaml"
    env = {"COURTYARD_SPEC": str(from_env)}

    assert find_spec(SessionOptions(spec_file=explicit, root=tmp_path, environ=env)) == explicit
    assert find_spec(SessionOptions(root=tmp_path, environ=env)) == from_env
    assert find_spec(SessionOptions(root=tmp_path)) == tmp_path / "config" / "courtyard.yaml"
    assert find_spec(SessionOptions(root=tmp_path / "config")) is None


def run_session(folder: Path, source: str, env: dict | None = None) -> subprocess.CompletedProcess:
    folder.mkdir()
    (folder / "test_it.py").write_text(textwrap.dedent(source))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(folder)]
    return subprocess.run(
        [*command, str(folder)], capture_output=True, text=True, cwd=folder, env=env, timeout=60
    )


def test_the_plugin_costs_a_suite_that_does_not_use_it_no_docker_or_nats_import(tmp_path):
    result = run_session(
        tmp_path / "suite",
        """
        import sys

        def test_nothing_heavy_was_imported():
            assert not {"docker", "nats"} & set(sys.modules)
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_docker_engine_a_test_fails_with_one_sentence_naming_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run_session(
        tmp_path / "suite",
        """
        def test_needs_the_hub(courtyard_namespace):
            pass
        """,
        env=env,
    )
    assert result.returncode == 1
    assert (
        "courtyard_cluster: cannot reach the Docker engine at unix:///nonexistent/docker.sock; "
        "is Docker running?" in result.stdout
    )
    assert "Traceback" not in result.stdout
    assert "nats.errors" not in result.stdout


def test_only_a_dead_sessions_marks_are_its_leftovers_and_none_while_one_runs(project_factory):
    from courtyard.harness.holders import write_process_record
    from courtyard.testing.session import ended_session_marks

    project = project_factory()
    layout = project.layout
    dead = layout.session_mark(999_999_999)
    dead.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": 999_999_999, "started": "1", "host": socket.gethostname()}
    dead.write_text(json.dumps(record))
    (layout.session_marks / "garbled.json").write_text("not json")
    assert sorted(m.name for m in ended_session_marks(project)) == [
        "999999999.json",
        "garbled.json",
    ]
    write_process_record(layout.session_mark(os.getpid()))  # a session that still runs
    assert ended_session_marks(project) == []

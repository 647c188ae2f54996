"""The invoke layer as a user meets it: task list, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from courtyard.artefacts.certs import ensure_certs
from courtyard.project.loaded import load_project
from tests.helpers import REPO, invoke, write_spec


def test_every_task_is_listed_with_help():
    listing = invoke("--list").stdout
    for name in (
        "certs",
        "cert",
        "configs",
        "up",
        "down",
        "status",
        "logs",
        "env",
        "smoke",
        "fault",
        "export-helm",
        "export-compose",
    ):
        line = next(line for line in listing.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split()) > 1, f"{name} has no help line"


def test_bad_spec_is_one_line_without_traceback(tmp_path):
    spec = write_spec(tmp_path, {"replicas": 0})
    proc = invoke("certs", "--spec", str(spec))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "replicas = 0 must be between 1 and 9" in proc.stderr
    assert not (tmp_path / "certs").exists()


def test_debugging_brings_back_the_traceback_behind_the_sentence(tmp_path):
    spec = write_spec(tmp_path, {"replicas": 0})
    for how, env in (
        ("COURTYARD_DEBUG=1", {**os.environ, "COURTYARD_DEBUG": "1"}),
        ("invoke --debug", None),
    ):
        args = (
            ("--debug", "certs", "--spec", str(spec))
            if env is None
            else ("certs", "--spec", str(spec))
        )
        proc = invoke(*args, env=env)
        assert proc.returncode == 1, how
        assert "Traceback" in proc.stderr and "SpecError" in proc.stderr, how
        assert "replicas = 0 must be between 1 and 9" in proc.stderr.splitlines()[-1], how


def test_bad_san_list_names_the_entry(tmp_path):
    spec = write_spec(tmp_path)
    proc = invoke("cert", "-c", "NATS Cluster", "-o", "x", "-s", "DNS:a, b", "--spec", str(spec))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "'b' must start with DNS: or IP:" in proc.stderr
    assert not (tmp_path / "certs").exists()


def test_certs_then_show_never_prints_a_key(tmp_path):
    spec = write_spec(tmp_path)
    assert invoke("certs", "--spec", str(spec)).returncode == 0
    shown = invoke("certs", "--show", "--spec", str(spec))
    assert shown.returncode == 0
    assert "sha256" in shown.stdout and "DNS:localhost" in shown.stdout
    assert "PRIVATE KEY" not in shown.stdout + shown.stderr


def test_unreachable_docker_engine_is_one_sentence_and_creates_nothing(tmp_path):
    spec = write_spec(tmp_path)
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    proc = invoke("up", "--spec", str(spec), env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        f"cannot reach the Docker engine at unix://{tmp_path}/no-docker.sock; is Docker running?"
    ) in proc.stderr
    assert not (tmp_path / "certs").exists()


def test_env_prints_exports_and_writes_a_nats_context(tmp_path):
    spec = write_spec(tmp_path)
    project = load_project(spec)
    ensure_certs(project.spec, project.names, project.layout)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = invoke("env", "--spec", str(spec), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = dict(
        line.removeprefix("export ").split("=", 1)
        for line in proc.stdout.splitlines()
        if line.startswith("export ")
    )
    assert lines["NATS_URL"] == "tls://localhost:4222,tls://localhost:4223,tls://localhost:4224"
    assert lines["NATS_CERT"] == str(tmp_path / "certs" / "clients" / "dev.crt")
    context = tmp_path / "xdg" / "nats" / "context" / "courtyard-skunkwolf-nats.json"
    assert context.exists() and '"ca":' in context.read_text()


def test_two_checkouts_of_one_release_keep_a_nats_context_each(tmp_path):
    xdg = tmp_path / "xdg"
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg)}
    specs = []
    for checkout in ("first", "second"):
        spec = write_spec(tmp_path / checkout)
        project = load_project(spec)
        ensure_certs(project.spec, project.names, project.layout)
        specs.append(spec)
    first, second, again = (invoke("env", "--spec", str(s), env=env) for s in [*specs, specs[0]])
    folder = xdg / "nats" / "context"
    plain = folder / "courtyard-skunkwolf-nats.json"
    [hashed] = [p for p in folder.iterdir() if p != plain]
    assert json.loads(plain.read_text())["ca"] == str(
        tmp_path / "first" / "certs" / "ca-bundle.crt"
    )
    assert json.loads(hashed.read_text())["ca"] == str(
        tmp_path / "second" / "certs" / "ca-bundle.crt"
    )
    assert first.stdout.rstrip().endswith("nats --context courtyard-skunkwolf-nats")
    assert f"nats --context {hashed.stem} (courtyard-skunkwolf-nats is another checkout" in (
        second.stdout
    )
    assert again.stdout.rstrip().endswith("nats --context courtyard-skunkwolf-nats")
    # A checkout that is gone gives its name up.
    shutil.rmtree(tmp_path / "first")
    reclaimed = invoke("env", "--spec", str(specs[1]), env=env)
    assert reclaimed.stdout.rstrip().endswith("nats --context courtyard-skunkwolf-nats")
    assert json.loads(plain.read_text())["ca"] == str(
        tmp_path / "second" / "certs" / "ca-bundle.crt"
    )


def test_output_cut_short_by_the_reader_is_no_traceback(tmp_path):
    spec = write_spec(tmp_path)
    project = load_project(spec)
    ensure_certs(project.spec, project.names, project.layout)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = subprocess.run(
        f"{sys.executable} -m invoke -r {REPO} env --spec {spec} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.stdout.startswith("export NATS_URL=")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_an_unusable_certs_folder_is_one_sentence(tmp_path):
    spec = write_spec(tmp_path)
    (tmp_path / "certs").write_text("not a folder")
    proc = invoke("certs", "--spec", str(spec))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "cannot use" in proc.stderr and "certs" in proc.stderr


def test_rotate_ca_status_and_bad_phase_need_no_cluster(tmp_path):
    spec = write_spec(tmp_path)
    status = invoke("rotate-ca", "--status", "--spec", str(spec))
    assert status.returncode == 0 and "No CA rotation is running" in status.stdout
    bad = invoke("rotate-ca", "--stop-after", "5", "--spec", str(spec))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "--stop-after 5 is no phase; choose 1 to 3" in bad.stderr


def test_a_system_identity_with_lists_is_refused_before_anything_is_written(tmp_path):
    spec = write_spec(
        tmp_path, {"tls": {"clients": ["dev", {"name": "ops", "system": True, "subscribe": [">"]}]}}
    )
    proc = invoke("certs", "--spec", str(spec))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "tls.clients[ops].subscribe" in proc.stderr and "system identity" in proc.stderr
    assert not (tmp_path / "certs").exists()


def test_env_before_any_certificate_is_one_sentence_and_writes_no_context(tmp_path):
    spec = write_spec(tmp_path)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = invoke("env", "--spec", str(spec), env=env)
    assert proc.returncode == 1
    assert "dev's certificate files are not there yet" in proc.stderr
    assert "run `invoke certs` (or `invoke up`) first" in proc.stderr
    assert "Traceback" not in proc.stderr and "export" not in proc.stdout
    assert not (tmp_path / "xdg").exists()


# Option values a user can mistype: each is one sentence naming the option, before anything
# runs (invoke itself would convert them by the default's type, with a traceback).
HOSTILE_OPTION_VALUES = [
    (("fault", "slow", "--node", "1", "--loss", "abc"), "--loss takes a percent"),
    (("fault", "slow", "--node", "1", "--loss", "150"), "--loss takes a percent"),
    (("fault", "slow", "--node", "1", "--delay", "-3"), "--delay takes milliseconds"),
    (("fault", "slow", "--node", "1", "--jitter", "1e999"), "--jitter takes milliseconds"),
    (("fault", "partition", "--node", "1", "--for", "abc"), "--for takes seconds"),
    (("fault", "partition", "--node", "1", "--for", "0"), "--for takes seconds"),
    (("fault", "kill", "--node", "1", "--timeout", "abc"), "--timeout takes seconds"),
    (("up", "--timeout", "abc"), "--timeout takes seconds"),
    (("up", "--timeout", "nan"), "--timeout takes seconds"),
    (("up", "--timeout", "-1"), "--timeout takes seconds"),
    (("rotate-ca", "--timeout", "inf"), "--timeout takes seconds"),
    (("rotate-ca", "--stop-after", "x"), "--stop-after takes a phase number"),
    (("report", "--watch", "--interval", "abc"), "--interval takes seconds"),
    (("report", "--interval", "0"), "--interval takes seconds"),
    (("smoke", "--messages", "abc"), "--messages takes a whole number"),
    (("smoke", "--messages", "1.5"), "--messages takes a whole number"),
    (("smoke", "--messages", "0"), "--messages takes a whole number"),
    (("logs", "--tail", "abc"), "--tail takes a whole number"),
    (("logs", "--tail", "-5"), "--tail takes a whole number"),
]


def test_a_mistyped_option_value_is_one_sentence_naming_the_option(tmp_path):
    spec = write_spec(tmp_path, {})
    for args, sentence in HOSTILE_OPTION_VALUES:
        proc = invoke(*args, "--spec", str(spec))
        assert proc.returncode == 1, args
        assert "Traceback" not in proc.stderr, args
        assert proc.stderr.strip().count("\n") == 0, (args, proc.stderr)
        assert proc.stderr.startswith(f"courtyard: {sentence}"), (args, proc.stderr)
        assert repr(args[-1]) in proc.stderr, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]
    assert sorted(p.name for p in spec.parent.iterdir()) == ["courtyard.yaml"]


def test_cert_refuses_a_second_login_for_an_identity_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path, {})
    for name in ("ops", "courtyard"):
        proc = invoke("cert", "-c", name, "-u", "Platform", "--client", "-o", "clone",
                      "--spec", str(spec))  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert f"is the login of identity {name} " in proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert not (tmp_path / "certs" / "clone.crt").exists()

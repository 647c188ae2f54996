"""Courtyard's tasks: `invoke --list` shows them, `invoke --help TASK` explains one.

Each task parses its options and calls the courtyard package; a user mistake ends with one
line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from pathlib import Path

from docker.errors import DockerException
from invoke import task
from invoke.exceptions import Exit

from courtyard.commands import certs as certs_cmd
from courtyard.commands import cluster, exports, options
from courtyard.commands import configs as configs_cmd
from courtyard.commands import fault as fault_cmd
from courtyard.commands import helm as helm_bridge
from courtyard.commands import report as report_cmd
from courtyard.commands import rotate as rotate_cmd
from courtyard.commands import smoke as smoke_cmd
from courtyard.core.errors import CourtyardError
from courtyard.core.interrupts import terminate_as_interrupt

SPEC_HELP = "cluster spec file (default: $COURTYARD_SPEC, else config/courtyard.yaml)"
JSON_HELP = "print a machine-readable JSON report"


# invoke finds this file from any folder below it; the default spec is this project's.
os.environ.setdefault(
    "COURTYARD_SPEC", str(Path(__file__).resolve().parent / "config" / "courtyard.yaml")
)


def debugging() -> bool:
    """COURTYARD_DEBUG=1, or invoke's own --debug (-d): show the traceback behind a message."""
    return os.environ.get("COURTYARD_DEBUG") == "1" or logging.getLogger().isEnabledFor(
        logging.DEBUG
    )


def user_errors(func):
    """Turn a CourtyardError into a one-line message and exit code 1; with debugging on,
    the traceback of the error comes first."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BaseException:
            if debugging():
                traceback.print_exc()
            raise

    @functools.wraps(func)
    def one_line(*args, **kwargs):
        try:
            with terminate_as_interrupt():  # SIGTERM stops a task as Ctrl-C does
                return wrapper(*args, **kwargs)
        except CourtyardError as exc:
            diagnosis = getattr(exc, "diagnosis", "")
            if diagnosis:
                print(diagnosis, file=sys.stderr)
            raise Exit(f"courtyard: {exc}", code=getattr(exc, "exit_code", 1)) from None
        except KeyboardInterrupt:
            raise Exit("courtyard: interrupted", code=130) from None
        except BrokenPipeError:
            # The reader went away (`invoke env | head -1`): stop quietly, as a shell tool does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=141) from None
        except DockerException as exc:
            # The engine refused or lost something mid-task (another tool removed a container):
            # the task stops where it was; `status` shows what is there, and `up` is idempotent.
            reason = " ".join(str(exc).split())[:200]
            raise Exit(
                f"courtyard: the Docker engine refused a request ({reason}); see the cluster with "
                "`invoke status`, then run the task again",
                code=1,
            ) from None
        except OSError as exc:
            # A file Courtyard must read or write (an unwritable certs/, a full disk): the
            # path and the system's reason are the whole story.
            if exc.filename is None:
                raise
            raise Exit(
                f"courtyard: cannot use {exc.filename}: {exc.strerror}; check that folder's "
                "owner, mode and free space, then run the task again",
                code=1,
            ) from None

    return one_line


@task(
    help={
        "spec": SPEC_HELP,
        "force": "reissue every leaf certificate (the CA is kept)",
        "show": "print each certificate's subject, SANs, EKU, expiry and fingerprint",
        "json": JSON_HELP,
    }
)
@user_errors
def certs(c, spec=None, force=False, show=False, json=False):
    """Issue the CA, route, server and client certificates the spec asks for."""
    certs_cmd.certs(spec, force=force, show=show, as_json=json)


@task(
    help={
        "common_name": 'subject CN, e.g. "NATS Cluster"',
        "out": "output base name: writes certs/<out>.crt and certs/<out>.key",
        "unit": "subject OU, e.g. NATS",
        "sans": 'SAN list, e.g. "DNS:a, DNS:b, IP:127.0.0.1"',
        "route": "usable for routes (serverAuth and clientAuth)",
        "client": "a client certificate (clientAuth only)",
        "force": "reissue even when the certificate on disk already matches",
        "spec": SPEC_HELP,
    }
)
@user_errors
def cert(
    c, common_name, out, unit=None, sans=None, route=False, client=False, force=False, spec=None
):
    """Issue one ad-hoc certificate from the Courtyard CA (generate-nats-certs.sh options)."""
    certs_cmd.cert(
        spec,
        common_name=common_name,
        out=out,
        unit=unit,
        sans=sans,
        route=route,
        client=client,
        force=force,
    )


@task(help={"spec": SPEC_HELP})
@user_errors
def configs(c, spec=None):
    """Write and check one nats-server config per node in config/nodes/."""
    configs_cmd.configs(spec)


@task(
    help={
        "spec": SPEC_HELP,
        "timeout": "seconds to wait for the cluster to be ready (default 60)",
        "force_certs": "reissue every leaf certificate first (nodes then reload them)",
        "forget_departed": "remove nodes scaled away from JetStream's meta group, for good "
        "(they cannot come back; needs a system identity)",
    }
)
@user_errors
def up(c, spec=None, timeout=None, force_certs=False, forget_departed=False):
    """Bring the cluster up (certs, configs, image, network, nodes) and wait until ready."""
    cluster.up(
        spec,
        timeout=options.seconds("--timeout", timeout, 60.0),
        force_certs=force_certs,
        forget_departed=forget_departed,
    )


@task(
    help={
        "spec": SPEC_HELP,
        "status": "show the phase a running rotation has reached",
        "json": JSON_HELP,
        "timeout": "seconds to wait for the cluster after each phase (default 60)",
        "stop_after": "stop after phase 1 or 2 (to apply that phase to Kubernetes first)",
    }
)
@user_errors
def rotate_ca(c, spec=None, status=False, json=False, timeout=None, stop_after=None):
    """Replace the CA without splitting the cluster: trust both, reissue, trust the new."""
    rotate_cmd.rotate_ca(
        spec,
        status=status,
        as_json=json,
        timeout=options.seconds("--timeout", timeout, 60.0),
        stop_after=options.whole(
            "--stop-after", stop_after, None, accepts="a phase number", least=0, most=99
        ),
    )


@task(help={"spec": SPEC_HELP, "volumes": "also remove the JetStream data volumes"})
@user_errors
def down(c, spec=None, volumes=False):
    """Stop and remove the cluster's containers and network; data and certs are kept."""
    cluster.down(spec, volumes=volumes)


@task(help={"spec": SPEC_HELP, "json": JSON_HELP})
@user_errors
def status(c, spec=None, json=False):
    """Show every node's state, routes, meta leader and JetStream totals; non-zero if unhealthy."""
    cluster.status(spec, as_json=json)


@task(
    help={
        "spec": SPEC_HELP,
        "identity": "system identity to ask through (default: the spec's first)",
        "json": JSON_HELP,
        "watch": "refresh in place until Ctrl-C",
        "interval": "seconds between refreshes with --watch (default 2)",
    }
)
@user_errors
def report(c, spec=None, identity=None, json=False, watch=False, interval=None):
    """Ask every server through the system identity: servers, JetStream, meta group, streams."""
    report_cmd.report(
        spec,
        identity=identity,
        as_json=json,
        watch=watch,
        interval=options.seconds("--interval", interval, 2.0, most=3600),
    )


@task(
    help={
        "kind": "partition, isolate-clients, pause, kill, stop or slow",
        "node": "the node to break: its index (0, 1, ...) or server name",
        "leader": "the node leading this stream",
        "meta_leader": "the node leading the JetStream meta group",
        "for": "hold the fault this many seconds, then heal it and wait until ready",
        "loss": "slow: percent of packets dropped, each way",
        "delay": "slow: milliseconds added to all the node sends (needs netem)",
        "jitter": "slow: milliseconds the delay varies by",
        "towards": "slow: loss towards peers, clients or all (default)",
        "timeout": "seconds to wait for the cluster after the heal (default 60)",
        "spec": SPEC_HELP,
        "json": JSON_HELP,
    }
)
@user_errors
def fault(
    c,
    kind,
    node=None,
    leader=None,
    meta_leader=False,
    for_=None,
    loss=None,
    delay=None,
    jitter=None,
    towards=None,
    timeout=None,
    spec=None,
    json=False,
):
    """Break the running cluster by hand: `invoke up` heals every fault, `--for` heals this one."""
    link = (loss, delay, jitter, towards)
    slow = None
    if any(v is not None for v in link):
        slow = fault_cmd.SlowLink(
            options.number(
                "--loss", loss, 0.0, accepts="a percent from 0 to 100", least=0, most=100
            ),
            options.number(
                "--delay", delay, 0.0, accepts="milliseconds from 0 to 60000", least=0, most=60000
            ),
            options.number(
                "--jitter", jitter, 0.0, accepts="milliseconds from 0 to 60000", least=0, most=60000
            ),
            towards or "all",
        )
    fault_cmd.fault(
        spec,
        kind,
        target=fault_cmd.target_of(node, leader, meta_leader),
        hold=options.seconds("--for", for_, None, most=3600),
        slow=slow,
        timeout=options.seconds("--timeout", timeout, 60.0),
        as_json=json,
    )


@task(
    help={
        "spec": SPEC_HELP,
        "node": "one node: its index (0, 1, ...) or pod name",
        "follow": "keep printing new lines",
        "tail": "lines from the end (default 100)",
    }
)
@user_errors
def logs(c, spec=None, node=None, follow=False, tail=None):
    """Print the nodes' logs."""
    lines = options.whole(
        "--tail",
        tail,
        100,
        accepts="a whole number of lines from 0 to 100000",
        least=0,
        most=100000,
    )
    cluster.logs(spec, node=node, follow=follow, tail=lines)


@task(help={"spec": SPEC_HELP, "identity": "client identity to use (default: the first)"})
@user_errors
def env(c, spec=None, identity=None):
    """Print shell exports for eval "$(invoke env)" and write a nats CLI context."""
    cluster.env(spec, identity=identity)


@task(
    help={
        "spec": SPEC_HELP,
        "out": "output folder (default dist/helm/, gitignored)",
        "no_secrets": "write no Secret manifests; print kubectl create secret commands",
        "verify": "render the chart with the Helm SDK and compare it with the local configs",
        "chart": "chart folder or .tgz for --verify (default: the matching version from "
        "$COURTYARD_CHARTS, Helm's cache or the repository)",
        "upgrade_from": "legacy: write current-layout values that upgrade the spec's 0.x "
        "release in place (into dist/helm-upgrade/)",
        "legacy_chart": "the 0.19.17 chart folder or .tgz for --upgrade-from --verify",
    }
)
@user_errors
def export_helm(
    c,
    spec=None,
    out=None,
    no_secrets=False,
    verify=False,
    chart=None,
    upgrade_from=None,
    legacy_chart=None,
):
    """Write Helm values, TLS secrets and deploy steps for the official nats/nats chart."""
    exports.export_helm(
        spec,
        out=out,
        secrets=not no_secrets,
        verify=verify,
        chart=chart,
        upgrade_from=upgrade_from,
        legacy_chart=legacy_chart,
    )


@task(
    help={
        "file": "the values file you give helm -f (multi-document files are fine)",
        "chart": "nats/nats chart folder or .tgz (default: the version of the pinned "
        "nats-server, from $COURTYARD_CHARTS, Helm's cache or the repository)",
        "release": "release name to render (default: guessed from the file's Service)",
        "namespace": "namespace to render into (default: default)",
        "json": JSON_HELP,
    }
)
@user_errors
def helm_doctor(c, file, chart=None, release=None, namespace="default", json=False):
    """Show what a values file really deploys with the chart, and the keys it never reads."""
    helm_bridge.helm_doctor(file, chart=chart, release=release, namespace=namespace, as_json=json)


@task(
    help={
        "file": "the values file you give helm -f (multi-document files are fine)",
        "out": "spec file to write (default: config/<release>.yaml; never overwritten)",
        "release": "release name (default: guessed from the file's Service)",
        "namespace": "namespace (default: the Service's, else default)",
        "layout": "current or legacy (default: guessed from the file's keys)",
    }
)
@user_errors
def import_helm(c, file, out=None, release=None, namespace=None, layout=None):
    """Write a Courtyard spec from an existing values file, to run that deployment locally."""
    helm_bridge.import_helm(file, out=out, release=release, namespace=namespace, layout=layout)


@task(
    help={
        "spec": SPEC_HELP,
        "messages": "JetStream messages to publish (default 1000)",
        "failover": "also stop the stream leader's node under load and check nothing is lost",
        "json": JSON_HELP,
    }
)
@user_errors
def smoke(c, spec=None, messages=None, failover=False, json=False):
    """Prove the running cluster works: pub/sub, JetStream, KV, TLS refusals (and failover)."""
    count = options.whole(
        "--messages",
        messages,
        1000,
        accepts="a whole number from 1 to 1000000",
        least=1,
        most=1_000_000,
    )
    smoke_cmd.smoke(spec, messages=count, failover=failover, as_json=json)


@task(help={"spec": SPEC_HELP})
@user_errors
def export_compose(c, spec=None):
    """Write compose/docker-compose.yml: the same cluster as `invoke up`, for Docker Compose."""
    exports.export_compose(spec)

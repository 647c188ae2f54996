"""The pytest plugin (entry point `pytest11: courtyard`): a TLS JetStream cluster for tests.

    def test_orders(courtyard_cluster, courtyard_namespace):
        async def main():
            nc = await courtyard_cluster.connect()
            await nc.publish(courtyard_namespace.subject("orders.created"), b"{}")
            await nc.close()
        asyncio.run(main())

Nothing happens unless a test asks for a fixture: the imports that reach Docker and NATS
wait until then, so the plugin costs other suites nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from courtyard.core.errors import CourtyardError
from courtyard.core.interrupts import terminate_as_interrupt

if TYPE_CHECKING:
    from courtyard.testing.hub import Hub
    from courtyard.testing.identities import Acting
    from courtyard.testing.namespace import Namespace
    from courtyard.testing.session import TestSession

FIXTURES = {"courtyard_cluster", "courtyard_namespace", "courtyard_identity"}
SESSION: pytest.StashKey[TestSession] = pytest.StashKey()
SUMMARY: pytest.StashKey[list[str]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("courtyard", "Courtyard: a TLS JetStream cluster for the tests")
    group.addoption(
        "--courtyard-spec",
        metavar="FILE",
        help="the Courtyard spec of the cluster to use (default: $COURTYARD_SPEC, else "
        "config/courtyard.yaml under the rootdir)",
    )
    group.addoption(
        "--courtyard-ephemeral",
        action="store_true",
        help="always bring up a throw-away cluster, even when the spec's cluster is up",
    )
    group.addoption(
        "--courtyard-keep",
        action="store_true",
        help="leave a throw-away cluster running at the end and print how to reach it",
    )
    group.addoption(
        "--courtyard-timeout",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="how long a throw-away cluster may take to become ready (default: 90)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "courtyard: the test uses Courtyard's NATS cluster (courtyard_* fixtures)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the fixtures carry the `courtyard` mark: `-m "not courtyard"` skips them."""
    for item in items:
        if FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.courtyard)


@pytest.fixture(scope="session")
def courtyard_cluster(request: pytest.FixtureRequest) -> Iterator[Hub]:
    """The cluster: `servers`, `ca_file`, `identities`, `connect(identity=...)`,
    `stop_node(i)` / `start_node(i)`, and faults healed when their block ends:
    `with courtyard_cluster.partition(node)` (also `isolate_clients`, `pause`, `kill`,
    `stop`, `slow`, each with an `_async` twin), the node by index, server name or role
    (`meta_leader`, `stream_leader(name)`, `server_of(nc)`). The spec's running cluster when
    it is up and healthy, else a throw-away one that is removed at the end of the session."""
    from courtyard.testing.session import SessionOptions, open_session

    config = request.config
    spec = config.getoption("courtyard_spec")
    options = SessionOptions(
        spec_file=Path(spec) if spec else None,
        ephemeral=config.getoption("courtyard_ephemeral"),
        keep=config.getoption("courtyard_keep"),
        timeout=config.getoption("courtyard_timeout"),
        root=config.rootpath,
        environ=dict(os.environ),
    )
    try:
        session = open_session(options)
    except CourtyardError as exc:
        failure = f"courtyard_cluster: {exc}"
    else:
        failure = None
    if failure is not None:  # outside the except: one sentence, no chained traceback
        pytest.fail(failure, pytrace=False)
    config.stash[SESSION] = session
    try:
        # SIGTERM (`timeout`, a CI runner) interrupts the session as Ctrl-C does: the
        # `with` blocks heal their faults and the session's end runs, instead of the process
        # just ending with the cluster broken.
        with terminate_as_interrupt():
            yield session.hub
    finally:
        config.stash[SUMMARY] = session.close()


@pytest.fixture
def courtyard_namespace(
    courtyard_cluster: Hub, request: pytest.FixtureRequest
) -> Iterator[Namespace]:
    """A unique prefix for the test's subjects, streams and buckets; its streams and buckets
    are deleted when the test ends, also when it failed."""
    from courtyard.testing.namespace import Namespace

    session = request.config.stash[SESSION]
    namespace = Namespace.new()
    yield namespace
    try:
        session.clean(namespace)
    except CourtyardError as exc:
        failure = f"courtyard_namespace {namespace.prefix}: {exc}"
    else:
        return
    pytest.fail(failure, pytrace=False)


@pytest.fixture
def courtyard_identity(courtyard_cluster: Hub) -> Iterator[Callable[[str], Acting]]:
    """Act as a restricted identity of the spec: `orders = courtyard_identity("orders")`,
    then `await orders.connect()` logs in with its certificate, to its real subjects,
    streams and buckets, with only its rights. Tests acting as identities take turns on the
    cluster; each starts without the acted identities' streams and buckets, and they are
    deleted when it ends, also when it failed."""
    from courtyard.testing.identities import IdentityTurn

    turn = IdentityTurn(courtyard_cluster)

    def act_as(name: str) -> Acting:
        try:
            return turn.act_as(name)
        except CourtyardError as exc:
            failure = f"courtyard_identity({name!r}): {exc}"
        pytest.fail(failure, pytrace=False)

    yield act_as
    try:
        turn.close()
    except CourtyardError as exc:
        failure = f"courtyard_identity: {exc}"
    else:
        return
    pytest.fail(failure, pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A fault this host cannot make (a partition without root, latency without netem)
    skips the test with the one sentence saying why, instead of failing it."""
    outcome = yield
    report = outcome.get_result()
    faults = sys.modules.get("courtyard.runtime.link_faults")  # not loaded: nothing raised it
    if call.excinfo is None or report.when != "call" or faults is None:
        return
    if call.excinfo.errisinstance(faults.LinkFaultUnavailable):
        path, line, _ = item.reportinfo()
        report.outcome = "skipped"
        report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {call.excinfo.value}")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY, None)
    if lines:
        terminalreporter.write_sep("-", "courtyard")
        for line in lines:
            terminalreporter.write_line(line)

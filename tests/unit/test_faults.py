"""Choosing the node and the fault: every mistake is one sentence, before anything breaks."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

from courtyard.commands.fault import target_of
from courtyard.core.errors import CourtyardError
from courtyard.harness.faults import (
    FaultInjector,
    MetaLeader,
    ServerOf,
    SlowLink,
    StreamLeader,
    check_kind,
)
from courtyard.project.loaded import load_project
from tests.helpers import write_spec


@pytest.fixture
def injector(tmp_path) -> FaultInjector:
    return FaultInjector(client=None, project=load_project(write_spec(tmp_path)))


def test_a_node_is_an_index_a_digit_string_or_a_server_name(injector):
    pods = injector.project.names.pods
    assert injector.resolve(2) == 2
    assert injector.resolve("1") == 1
    assert injector.resolve(pods[2]) == 2


@pytest.mark.parametrize(
    ("target", "sentence"),
    [
        (3, "there is no node 3; cluster skunkwolf-nats has nodes 0 to 2"),
        (-1, "there is no node -1"),
        ("nats-9", "no node is named 'nats-9'; cluster skunkwolf-nats has skunkwolf-nats-0"),
        (True, "a node is an index, a server name or a role, not True"),
        (1.5, "a node is an index, a server name or a role, not 1.5"),
    ],
)
def test_a_node_that_is_not_there_is_one_sentence(injector, target, sentence):
    with pytest.raises(CourtyardError, match="^" + sentence.replace("(", r"\(")) as caught:
        injector.resolve(target)
    assert "\n" not in str(caught.value)


def test_the_node_a_client_is_connected_to_comes_from_its_url(injector):
    names = injector.project.names
    client = SimpleNamespace(connected_url=urlparse(f"tls://localhost:{names.client_host_port(1)}"))
    assert injector.resolve(ServerOf(client)) == 1
    elsewhere = SimpleNamespace(connected_url=urlparse("tls://localhost:1"))
    with pytest.raises(CourtyardError, match="not connected to a node of this cluster"):
        injector.resolve(ServerOf(elsewhere))
    with pytest.raises(CourtyardError, match=r"connected_url none"):
        injector.resolve(ServerOf(SimpleNamespace(connected_url=None)))


def test_roles_say_what_they_name():
    assert str(MetaLeader()) == "the meta leader"
    assert str(StreamLeader("ORDERS")) == "the leader of stream ORDERS"


def test_an_unknown_kind_lists_the_kinds():
    with pytest.raises(CourtyardError, match="there is no fault 'crash'; the kinds are partition"):
        check_kind("crash")


@pytest.mark.parametrize(
    ("link", "sentence"),
    [
        (SlowLink(), "a slow link needs a loss or a delay"),
        (SlowLink(loss=5, jitter_ms=3), "jitter varies a delay"),
        (SlowLink(loss=5, towards="sideways"), "towards must be one of peers, clients, all"),
        (SlowLink(delay_ms=50, towards="peers"), "delay and jitter apply to everything"),
    ],
)
def test_a_slow_link_that_makes_no_sense_is_refused(link, sentence):
    with pytest.raises(CourtyardError, match=sentence):
        link.check()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("1", None, False), "1"),
        ((None, "ORDERS", False), StreamLeader("ORDERS")),
        ((None, None, True), MetaLeader()),
    ],
)
def test_invoke_fault_takes_exactly_one_way_to_name_the_node(options, expected):
    assert target_of(*options) == expected


@pytest.mark.parametrize(
    "options", [(None, None, False), ("1", "ORDERS", False), ("0", None, True)]
)
def test_invoke_fault_without_or_with_two_node_options_is_one_sentence(options):
    with pytest.raises(CourtyardError, match="exactly one of --node N"):
        target_of(*options)

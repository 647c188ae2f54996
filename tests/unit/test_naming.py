from __future__ import annotations

import pytest

from courtyard.core.errors import SpecError
from courtyard.project.naming import chart_fullname
from courtyard.project.sans import San, dns


@pytest.mark.parametrize(
    ("release", "override", "expected"),
    [
        ("skunkwolf-nats", None, "skunkwolf-nats"),  # contains "nats": release as is
        ("nats", None, "nats"),
        ("skunkwolf", None, "skunkwolf-nats"),  # else "<release>-nats"
        ("skunkwolf", "broker", "broker"),  # fullnameOverride wins
        ("a" * 62, None, "a" * 62),  # 63 chars, trailing "-" trimmed
        ("x" * 59 + "nats", None, "x" * 59 + "nats"),  # 63 chars, kept whole
    ],
)
def test_fullname_follows_the_chart(release, override, expected):
    assert chart_fullname(release, override) == expected


def test_names_of_the_default_spec(project_factory):
    names = project_factory().names
    assert names.headless == "skunkwolf-nats-headless"
    assert names.client_service == "skunkwolf-nats"
    assert names.pods == ["skunkwolf-nats-0", "skunkwolf-nats-1", "skunkwolf-nats-2"]
    assert names.pod_fqdn(1) == "skunkwolf-nats-1.skunkwolf-nats-headless.default.svc.cluster.local"
    assert names.cluster_name == "skunkwolf-nats"
    assert names.route_urls == [
        f"tls://skunkwolf-nats-{i}.skunkwolf-nats-headless:6222" for i in range(3)
    ]


def test_route_urls_with_fqdn_namespace_domain_and_port(project_factory):
    names = project_factory(
        {
            "routes": {"use_fqdn": True},
            "namespace": "messaging",
            "cluster_domain": "k8s.skunkwolf.io",
            "ports": {"cluster": 7244},
            "release": "bus",
        }
    ).names
    assert names.route_urls[2] == (
        "tls://bus-nats-2.bus-nats-headless.messaging.svc.k8s.skunkwolf.io:7244"
    )


def test_legacy_layout_names(project_factory):
    names = project_factory({"helm": {"layout": "legacy"}}).names
    assert names.headless == "skunkwolf-nats"
    assert (
        names.route_urls[0]
        == "nats://skunkwolf-nats-0.skunkwolf-nats.default.svc.cluster.local:6222"
    )
    assert dns("skunkwolf-nats-0.skunkwolf-nats.default.svc.cluster.local") in names.route_sans


def test_docker_aliases_mirror_the_headless_service(project_factory):
    names = project_factory().names
    host = "skunkwolf-nats-2.skunkwolf-nats-headless"
    assert names.aliases(2) == [
        host,
        f"{host}.default",
        f"{host}.default.svc",
        f"{host}.default.svc.cluster.local",
        "skunkwolf-nats-headless",
        "skunkwolf-nats-headless.default.svc.cluster.local",
        "skunkwolf-nats",
        "skunkwolf-nats.default.svc.cluster.local",
    ]
    assert names.volume(0) == "skunkwolf-nats-js-skunkwolf-nats-0"  # the chart's PVC name


def test_route_and_server_sans(project_factory):
    names = project_factory().names
    assert set(names.route_sans) == {
        dns(n)
        for n in [
            "*.skunkwolf-nats-headless",
            "*.skunkwolf-nats-headless.default.svc.cluster.local",
            *[f"skunkwolf-nats-{i}.skunkwolf-nats-headless" for i in range(3)],
            *[
                f"skunkwolf-nats-{i}.skunkwolf-nats-headless.default.svc.cluster.local"
                for i in range(3)
            ],
        ]
    }
    server = set(names.server_sans)
    assert {
        dns("skunkwolf-nats"),
        dns("skunkwolf-nats.default.svc.cluster.local"),
        dns("localhost"),
        San("IP", "127.0.0.1"),
        dns("nats.example.com"),
        dns("skunkwolf-nats-1"),
    } <= server


def test_too_long_release_is_a_spec_error(project_factory):
    with pytest.raises(SpecError, match="longer than 63 characters"):
        project_factory({"release": "n" * 60})

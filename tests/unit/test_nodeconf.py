from __future__ import annotations

import pytest

from courtyard.artefacts.certs import ensure_certs
from courtyard.artefacts.config_check import check_config, check_configs
from courtyard.artefacts.nodeconf import node_mounts, write_configs
from courtyard.core.errors import CourtyardError


@pytest.fixture
def project(project_factory):
    p = project_factory({"routes": {"use_fqdn": True}})
    ensure_certs(p.spec, p.names, p.layout)
    write_configs(p.spec, p.names, p.layout)
    return p


def test_one_config_per_node_with_chart_shape(project):
    names, layout = project.names, project.layout
    for pod in names.pods:
        text = layout.node_config(pod).read_text()
        assert f'server_name: "{pod}"' in text
        for url in names.route_urls:
            assert f'"{url}"' in text
        assert "verify_and_map: true" in text
        assert "no_advertise: true" in text
        assert "lame_duck_duration: 30s" in text and "lame_duck_grace_period: 10s" in text
        assert "max_memory_store: 256Mi" in text and "max_file_store: 1Gi" in text
        assert "http_port: 8222" in text


def test_real_nats_server_accepts_every_node_config(project):
    checked = check_configs(project.names, project.layout)
    assert checked == [project.layout.node_config(pod) for pod in project.names.pods]


def test_real_nats_server_rejects_a_config_pointing_at_a_missing_file(project):
    pod = project.names.pods[0]
    mounts = node_mounts(project.layout, pod)
    (project.layout.secrets / "cluster" / "tls.crt").unlink()
    with pytest.raises(CourtyardError, match="nats-server rejects"):
        check_config(project.layout.node_config(pod), mounts)


def test_second_write_changes_nothing(project):
    results = write_configs(project.spec, project.names, project.layout)
    assert not any(r.changed for r in results)


def test_non_ascii_organization_and_project_path_make_configs_nats_server_accepts(
    project_factory, tmp_path
):
    p = project_factory(
        {"tls": {"subject": {"organization": "Skünkwolf Größe"}}}, root=tmp_path / "prøjekt 日本"
    )
    ensure_certs(p.spec, p.names, p.layout)
    write_configs(p.spec, p.names, p.layout)
    check_configs(p.names, p.layout)  # with the host paths, under the non-ASCII folder
    text = p.layout.node_config(p.names.pods[0]).read_text(encoding="utf-8")
    assert "O=Skünkwolf Größe,CN=" in text
    assert "\\u" not in text  # nats-server knows no \uXXXX escape


def test_a_config_nats_server_would_refuse_is_never_written(project_factory):
    p = project_factory()
    ensure_certs(p.spec, p.names, p.layout)

    def refuse(texts):
        assert set(texts) == set(p.names.pods)
        raise CourtyardError("nats-server rejects it")

    with pytest.raises(CourtyardError, match="rejects"):
        write_configs(p.spec, p.names, p.layout, before_writing=refuse)
    assert not any(p.layout.node_config(pod).exists() for pod in p.names.pods)


def test_strings_are_quoted_with_the_escapes_nats_server_knows():
    from courtyard.artefacts.natsconf import _string_value, quote

    for text in ('a "quoted" \\ path', "line\nbreak\ttab", "bell\x07", "prøjekt/日本"):
        assert _string_value(quote(text)) == text
    assert quote("bell\x07") == '"bell\\x07"'
    assert quote("ø") == '"ø"'

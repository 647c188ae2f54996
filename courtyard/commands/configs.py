"""`invoke configs`: certificates and the node configs, checked by the pinned nats-server."""

from __future__ import annotations

from courtyard.commands.steps import load_locked
from courtyard.lifecycle.prepare import prepare, rel


def configs(spec: str | None) -> None:
    with load_locked(spec, "configs") as project:
        prepare(project)
        print(f"Configs in {rel(project, project.layout.nodes)}/. Next: `invoke up`.")

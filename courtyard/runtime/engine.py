"""The Docker engine, reached through the Docker SDK; a clear sentence when it is not there."""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException

from courtyard.core.errors import CourtyardError

DEFAULT_HOST = "unix:///var/run/docker.sock"


def engine_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def connect() -> docker.DockerClient:
    """A client that has answered a ping; CourtyardError when the engine cannot be reached."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except (DockerException, OSError):
        raise CourtyardError(
            f"cannot reach the Docker engine at {engine_url()}; is Docker running?"
        ) from None
    return client

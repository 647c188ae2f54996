"""Testing: what a service's own pytest suite gets — the pytest plugin and its fixtures.

Owns the hub a session tests against (reused or throw-away), test namespaces and their
cleanup, and acting as a team. Nothing in the package imports it.

May import: core, project, artefacts, runtime, servers, checks, lifecycle, helm, harness, commands.
"""

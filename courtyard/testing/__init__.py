"""Testing: what a service's own pytest suite gets — the pytest plugin and its fixtures.

Owns the hub a session tests against (reused or throw-away), test namespaces and their
cleanup. May import every layer below it; nothing in the package imports it.
"""

"""Checks: questions asked of a running cluster — readiness, status, smoke, security, failover.

Owns the servers' monitoring endpoints and nats-py clients. May import core, spec, artefacts
and runtime; never commands.
"""

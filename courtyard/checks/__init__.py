"""Checks: questions asked of a running cluster, and only questions (no signal, no file
written): readiness, the first election, status, the operator's report, drift and stale
certificates, JetStream resources and the meta group, the smoke with its traffic, security,
permission and escape probes.

May import: core, project, artefacts, runtime, servers.
"""

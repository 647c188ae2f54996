"""Servers: how Courtyard talks to the running nats-server processes and what it records.

Owns the monitoring HTTP client (`monitor.py`) and the reading of its answers (`jsz.py`,
`raftz.py`), nats-py connections (`natsclient.py`), `$SYS` requests (`system.py`), removing
departed meta-group peers (`meta_peers.py`), signals sent to a node (`reload.py`) and the
records of what each node loaded (`records.py`).

May import: core, project, artefacts, runtime.
"""

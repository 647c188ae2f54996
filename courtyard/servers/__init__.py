"""Servers: how Courtyard talks to the running nats-server processes and what it records.

Owns the monitoring HTTP client (`monitor.py`) and the reading of its answers (`jsz.py`),
nats-py connections (`natsclient.py`), signals sent to a node (`reload.py`: SIGHUP and what a
node serves afterwards) and the records of what each node loaded (`records.py`). May import
core, project, artefacts and runtime; never checks or anything above.
"""

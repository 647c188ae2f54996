"""Artefacts: the files made from the spec — the CA and certificates (`pki.py`, `certs.py`),
the certificate folders the nodes mount, a CA rotation's files, the accounts and users
(`authorization.py`), node configs and their `nats-server -t` check, node container
definitions, export folders, the Compose file and client contexts.

May import: core, project.
"""

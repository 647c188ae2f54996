"""Helm: the official nats/nats chart's side of the same cluster.

Owns the chart itself (`chart.py`: finding and rendering it with the Helm SDK), the values and
Secrets Courtyard exports (`values.py`, `export.py`, `upgrade.py` for a 0.x release), the
parity check (`verify.py`), a user's values file (`values_file.py`) with `doctor.py` and
`importer.py`, and a rendered StatefulSet's pods run as containers (`pods.py`).

May import: core, project, artefacts, runtime, servers, checks, lifecycle.
"""

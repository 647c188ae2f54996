"""Project: `config/courtyard.yaml` as validated dataclasses, and every name derived from it.

Owns the Courtyard spec (`model.py`, read by `load.py`; subject patterns in `subjects.py`,
team limits in `limits.py`, sizes and SANs), `naming.py` (the one speller of names), the
host file layout and the pinned server; `loaded.py` holds the three together as one
`Project`.

May import: core.
"""

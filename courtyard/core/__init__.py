"""Core: what every layer needs and nothing Courtyard-specific: the errors a user can act on,
the one way to wait with a deadline (`polling.py`), interrupts held for work that must not
be cut in half (`interrupts.py`), where steps report (`reporter.py`), the per-cluster task
lock and YAML read as untrusted input.

May import: nothing from courtyard.
"""

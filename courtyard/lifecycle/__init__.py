"""Lifecycle: bringing the cluster to the spec, as a list of idempotent steps over one context
(`up.py`, as kind's `create` runs its actions), and what every run of nodes needs first
(`prepare.py`). The commands print it; the pytest plugin and the benchmarks run it with a
`Recorder`.

May import: core, project, artefacts, runtime, servers, checks.
"""

"""Harness: what tests, benchmarks and service teams use to load and break a cluster.

Owns the one acknowledged publisher and its lost-message count (`publisher.py`), throw-away
projects with their own names and host ports (`projects.py`), who holds them and the reaper,
faults on demand (`faults.py`), fault drills, the smoke's failover, the 0.x upgrade
rehearsal and the chart's rendered pods run and asked (`chart_run.py`). Nothing `invoke up`
needs lives here.

May import: core, project, artefacts, runtime, servers, checks, lifecycle, helm.
"""

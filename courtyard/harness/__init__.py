"""Harness: what tests, benchmarks and service teams use to load and break a cluster.

Owns the one acknowledged publisher and its lost-message count (`publisher.py`), throw-away
projects with their own names and host ports (`projects.py`), fault drills, the smoke's
failover and the 0.x upgrade rehearsal. Nothing `invoke up` needs lives here. May import
every layer up to helm; never commands or testing.
"""

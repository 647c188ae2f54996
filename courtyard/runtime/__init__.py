"""Runtime: the cluster as Docker objects — engine, image, containers, network, volumes.

Owns whose objects are whose, the node plan, the start gate, creating and removing, probe
nodes, and faults on a node's links made in its own network namespace (`link_faults.py`).

May import: core, project, artefacts.
"""

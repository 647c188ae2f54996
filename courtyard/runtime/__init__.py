"""Runtime: the cluster as Docker objects — engine, image, containers, network, volumes.

Owns whose objects are whose, the node plan, creating and removing. May import core, spec
and artefacts; never checks or commands.
"""

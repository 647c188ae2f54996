"""Courtyard: Skunkwolf's NATS + JetStream cluster on one machine, named as Kubernetes names it.

Layers, in the order data flows (a layer imports only the ones before it):
core → spec → artefacts → runtime → checks → commands. The README's "Architecture" section
says what each owns and where new code goes.
"""

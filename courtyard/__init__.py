"""Courtyard: Skunkwolf's NATS + JetStream cluster on one machine, named as Kubernetes names it.

Eleven layers, one package each, in the order data flows (a layer imports only the ones
before it): core → project → artefacts → runtime → servers → checks → lifecycle → helm →
harness → commands → testing. The README's "Architecture" table says what each owns and
where new code goes.
"""

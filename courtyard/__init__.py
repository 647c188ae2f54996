"""Courtyard: Skunkwolf's NATS + JetStream cluster on one machine, named as Kubernetes names it."""

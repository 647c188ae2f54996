"""Spec: `config/courtyard.yaml` as validated dataclasses, and every name derived from it.

Owns the spec, naming (the one speller of names), host file layout and the pinned server.
May import courtyard.core only.
"""

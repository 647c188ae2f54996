"""Artefacts: the files made from the spec — certificates, node configs, node container
definitions, Helm values and secrets, the Compose file, client contexts.

May import core and spec; never runtime, checks or commands.
"""

"""Commands: what each invoke task does, printed for people (or as JSON for machines).

Owns the step lines, tables and next-step hints, option values read from what the user
typed, and `up` as a list of steps; tasks.py only parses options and calls in here.

May import: core, project, artefacts, runtime, servers, checks, lifecycle, helm, harness.
"""

"""Commands: what each invoke task does, printed for people (or as JSON for machines).

Owns the step lines, tables and next-step hints, and `up` as a list of steps. May import
every layer below it; tasks.py only parses options and calls in here.
"""

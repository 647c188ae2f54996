"""Core: the errors a user can act on, and the one way to wait for something with a deadline.

May import nothing else from courtyard; every other layer may import it.
"""

"""Reelstack's domain: everything the functions do, importable and testable without AWS.

Handlers in ``functions/*/app.py`` parse their event, call into this package and return, or raise
one of the named errors in :mod:`reelstack.errors` so the state machine can Retry or Catch by name.
"""

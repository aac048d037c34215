"""Helpers shared by the tests and the benches (``tests`` is on ``sys.path`` in both)."""

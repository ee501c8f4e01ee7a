"""Executors run a list of unit specs and hand each result to the driver (see base.py)."""

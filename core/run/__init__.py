"""Runs: the config, the plan of units, the runner, the run directory and its status, and prediction with a finished run."""

"""Evaluation: metrics with confidence intervals, calibration, DeLong, thresholds, curves, aggregation over splits, and the classical baselines."""

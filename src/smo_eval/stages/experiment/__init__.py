"""Improvement experiments: per-slice operating points, calibration and retrained challengers.

Each kind is a pure function of the evaluation table, the aligned score table and the row
split (`splits.assign_parts`); `run_experiment` runs the configured kinds in order.
"""

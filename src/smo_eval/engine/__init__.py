"""The counting engine: sufficient statistics per slice in one pass, metrics derived from them.

Every count metric of a slice is a function of its confusion cells and every rank metric of
its per-label score histogram, so rows are touched once per model; confidence intervals
resample the counts, never the rows (cost grows with slices x replicates, not rows x replicates).
"""

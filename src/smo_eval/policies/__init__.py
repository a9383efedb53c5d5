"""Multi-policy (multi-head) models and borderline gold labels.

Switched on by the data, never by default: a `policy` column in predictions (one score per
item, model and policy) turns the evaluation into one-vs-rest per policy, and label values
listed in `data.labels.borderline` give gold a third state. `contract` validates and expands
the inputs at ingest, `borderline` applies `evaluate.borderline` and measures the flag rate
of borderline items, `confusion` finds flags under the wrong policy, `slicing` makes `policy`
a slice dimension.
"""

POLICY = "policy"
BORDERLINE_COLUMN = "borderline"

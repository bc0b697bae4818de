"""Pure text-analysis functions and scikit-learn-style estimators (no I/O, no Prefect)."""

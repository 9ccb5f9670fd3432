"""The benchmark harness: run from the repository root, e.g. `python -m benchmarks.tabddpm --quick`."""

"""Benchmarks for tabdiffusion: run from the repository root, e.g. `python -m benchmarks.preset_timing`."""

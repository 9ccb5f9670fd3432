"""Studies whose findings are recorded in docs/experiments.md (ablations, timings, sweeps, memorisation probes): run
from the repository root, e.g. `python -m experiments.step_time`. They use the harness in benchmarks/ and are not
installed; the harness's own benchmarks stay in benchmarks/."""

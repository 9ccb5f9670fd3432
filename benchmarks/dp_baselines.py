"""One smartnoise-synth fit, run inside the baselines environment (its own virtualenv: smartnoise-synth pins its own
torch and opendp), called by benchmarks/dp_utility.py as a subprocess.

    /work/venvs/snsynth/bin/python benchmarks/dp_baselines.py --method mst --epsilon 1 --train train.csv \\
        --out synthetic.csv --categorical a,b --continuous x,y --seed 0

Numeric columns are declared continuous; smartnoise-synth spends its preprocessor_eps share on their bounds and
bins them. Prints the fit seconds as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

PREPROCESSOR_SHARE = 0.1  # of epsilon for the bounds of continuous columns, as tabdiffusion spends on its histograms


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--method", "--train", "--out", "--categorical", "--continuous"):
        parser.add_argument(name, default="")
    parser.add_argument("--epsilon", type=float, required=True)
    parser.add_argument("--delta", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from snsynth import Synthesizer

    np.random.seed(args.seed)  # smartnoise-synth draws from the global generators
    try:
        import torch

        torch.manual_seed(args.seed)
    except ImportError:
        pass
    train = pd.read_csv(args.train)
    categorical = [c for c in args.categorical.split(",") if c]
    continuous = [c for c in args.continuous.split(",") if c]
    for name in categorical:
        train[name] = train[name].astype(str)
    options = {} if args.delta is None else {"delta": args.delta}
    synth = Synthesizer.create(args.method, epsilon=args.epsilon, verbose=False, **options)
    start = time.perf_counter()
    synth.fit(train, categorical_columns=categorical, continuous_columns=continuous,
              preprocessor_eps=PREPROCESSOR_SHARE * args.epsilon)
    fitted = time.perf_counter() - start
    rows = synth.sample(len(train))
    rows.to_csv(args.out, index=False)
    print(json.dumps({"fit_seconds": fitted, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()

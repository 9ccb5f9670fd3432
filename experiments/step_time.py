"""Wall time of one training step (loss, backward, AdamW) on a generated layout, e.g. a wide categorical block.

    python -m experiments.step_time --numeric 100 --categorical 100 --levels 30
    python -m experiments.step_time --numeric 9 --categorical 0 --optimizer default,foreach,fused --repeats 3
    PYTHONPATH=/path/to/other/checkout python experiments/step_time.py ...   # compare two versions, one process each
    python -m experiments.step_time --numeric 32 --categorical 0 --classes 5 --default-denoiser --precision float32,bfloat16
    python -m experiments.step_time --numeric 32 --categorical 0 --classes 5 --default-denoiser --timestep-strata 16

Uses TabDDPM's plain denoiser (no periodic features, no FiLM) so that versions with different denoiser options time
the same network; `--default-denoiser` times the default preset's instead (16 periodic features, FiLM). Prints the
mean over `--steps` steps after warm-up steps; with several precisions or optimizers, each combination is timed
`--repeats` times, alternating, in this one process, from the same initial weights.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from tabdiffusion.diffusion.mixed import MixedDiffusion
from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numeric", type=int, default=100)
    parser.add_argument("--categorical", type=int, default=100)
    parser.add_argument("--levels", type=int, default=30)
    parser.add_argument("--classes", type=int, default=2, help="label classes the denoiser is conditioned on (0: none)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--optimizer", default="default",
                        help="comma-separated AdamW implementations: default (PyTorch's choice, which training uses: "
                             "one tensor at a time on a CPU), foreach, fused")
    parser.add_argument("--default-denoiser", action="store_true", help="periodic features and FiLM, as the default preset")
    parser.add_argument("--timestep-strata", type=int, default=0,
                        help="timesteps per batch drawn by stratum, as the default preset's timestep_strata (0: one per row)")
    parser.add_argument("--precision", default="float32",
                        help="comma-separated float32,bfloat16: the forward pass's precision (training_precision)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating timings of each precision")
    args = parser.parse_args()
    precisions, optimizers = args.precision.split(","), args.optimizer.split(",")
    if set(precisions) - {"float32", "bfloat16"}:
        parser.error(f"--precision {args.precision!r}: use float32, bfloat16 or both")
    if set(optimizers) - {"default", "foreach", "fused"}:
        parser.error(f"--optimizer {args.optimizer!r}: use default, foreach, fused or several of them")
    generator = torch.Generator().manual_seed(0)
    diffusion = MixedDiffusion(args.numeric, [args.levels] * args.categorical, 100, timestep_strata=args.timestep_strata)
    options = dict(n_numeric=args.numeric, fourier_features=16, film=True) if args.default_denoiser else {}
    initial = MLPDenoiser(diffusion.input_width, [512, 512, 512], n_classes=args.classes, **options)
    reset_parameters(initial, torch.Generator().manual_seed(0))
    x_num = torch.randn(args.batch, args.numeric, generator=generator)
    x_cat = torch.randint(0, args.levels, (args.batch, args.categorical), generator=generator)
    y = torch.randint(0, args.classes, (args.batch,), generator=generator) if args.classes else None

    def seconds_per_step(low_precision: bool, implementation: str) -> float:
        model = copy.deepcopy(initial)
        flags = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[implementation]
        optimizer = torch.optim.AdamW(model.parameters(), 1e-3, **flags)

        def step() -> None:
            loss_num, loss_cat = diffusion.loss(model, x_num, x_cat, y, generator, low_precision)
            (loss_num + loss_cat).backward()
            optimizer.step()
            optimizer.zero_grad()

        for _ in range(3):
            step()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        return (time.perf_counter() - start) / args.steps

    times: dict[tuple[str, str], list[float]] = {(p, o): [] for p in precisions for o in optimizers}
    for _ in range(args.repeats):
        for precision, implementation in times:
            times[precision, implementation].append(seconds_per_step(precision == "bfloat16", implementation))
    layout = (f"{args.batch} rows, {args.numeric} numeric, {args.categorical} categorical x {args.levels} levels, "
              f"{args.classes} classes, {'default' if args.default_denoiser else 'plain'} denoiser, "
              f"timestep strata {args.timestep_strata}")
    for (precision, implementation), values in times.items():
        print(f"{precision}, {implementation} AdamW: {statistics.median(values):.4f} s per step, median of "
              f"{' / '.join(f'{v:.4f}' for v in values)} ({layout})")


if __name__ == "__main__":
    main()

"""Wall time of one training step (loss, backward, AdamW) on a generated layout, e.g. a wide categorical block.

    python -m benchmarks.step_time --numeric 100 --categorical 100 --levels 30
    python -m benchmarks.step_time --numeric 9 --categorical 0 --optimizer fused   # fused AdamW instead
    PYTHONPATH=/path/to/other/checkout python benchmarks/step_time.py ...   # compare two versions, one process each

Uses TabDDPM's plain denoiser (no periodic features, no FiLM) so that versions with different denoiser options time
the same network; prints the mean over `--steps` steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import time

import torch

from tabdiffusion.diffusion.mixed import MixedDiffusion
from tabdiffusion.nn.mlp import MLPDenoiser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numeric", type=int, default=100)
    parser.add_argument("--categorical", type=int, default=100)
    parser.add_argument("--levels", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--optimizer", choices=["fused", "foreach"], default="foreach",
                        help="AdamW implementation (training uses PyTorch's default, foreach)")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    diffusion = MixedDiffusion(args.numeric, [args.levels] * args.categorical, 100)
    model = MLPDenoiser(diffusion.input_width, [512, 512, 512], n_classes=2)
    fused = args.optimizer == "fused"
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, fused=fused, foreach=None if fused else True)
    x_num = torch.randn(args.batch, args.numeric, generator=generator)
    x_cat = torch.randint(0, args.levels, (args.batch, args.categorical), generator=generator)
    y = torch.randint(0, 2, (args.batch,), generator=generator)

    def step() -> None:
        loss_num, loss_cat = diffusion.loss(model, x_num, x_cat, y, generator)
        (loss_num + loss_cat).backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    print(f"{(time.perf_counter() - start) / args.steps:.3f} s per step ({args.batch} rows, {args.numeric} numeric, "
          f"{args.categorical} categorical x {args.levels} levels, {args.optimizer} AdamW)")


if __name__ == "__main__":
    main()

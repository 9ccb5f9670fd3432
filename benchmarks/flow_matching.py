"""Candidate for the sampling target (issue 5, target 5): flow matching on one continuous vector per row, then
one round of reflow so that 1 to 4 Euler steps suffice. Scores each step count against the default's DDIM 50.

    python -m benchmarks.flow_matching --dataset adult --param x1 --baseline

The row vector is [quantile-normal numerics ; one-hot categoricals mapped to -1/+1]; noise z ~ N(0, I) sits at
t = 0 and the data at t = 1, on the straight path x_t = (1 - t) z + t x (rectified flow, Liu et al. 2022).
`--param velocity` regresses the velocity x - z with MSE everywhere; `--param x1` predicts the numerics of x (MSE)
and logits of each categorical column (cross-entropy), and samples with the velocity (x_hat - x_t) / (1 - t).
Sampling is deterministic Euler; categoricals are the argmax of their block at t = 1.

Reflow: the fitted flow maps `--pairs` noise draws to rows with `--teacher-steps` Euler steps; a copy of it is
trained on those fixed (noise, row) couplings, which straightens the paths so that few steps land where many did.

The denoiser and its training settings are the default preset's (layers, periodic features, auto width, batch,
lr, weight decay, EMA), without FiLM as when experiments.md's flow measurements were taken, with t on a grid of 1000
levels so that its integer (t, label) embedding applies; training uses tabdiffusion's loop with the default's steps.
Every variant is scored with evaluate (train split as real, test split as holdout) and the paper's tuned CatBoost
(`--catboost-seeds` seeds, one synthetic set of train size). rows_per_s is sampling plus decoding, end to end,
in float32 (the default's row uses its own precision, 'auto').
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch

import tabdiffusion as td
from benchmarks.protocol import catboost_score
from benchmarks.tabddpm_data import TARGET
from benchmarks.wide_table import load_any as load
from tabdiffusion.diffusion import multinomial
from tabdiffusion.diffusion.mixed import NORMAL_CLIP as CLIP
from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters
from tabdiffusion.config import PRESETS, auto_layers, auto_steps, auto_width
from tabdiffusion.training import train
from tabdiffusion.transforms.calibration import MarginalCalibration
from tabdiffusion.transforms.table import Encoded

GRID = 1000  # t in [0, 1) lives on 1000 levels: the denoiser embeds integer timesteps
SNR_WEIGHT_CAP = 100.0


class Flow:
    """Rectified flow between N(0, I) and the table's row vectors, with the loss `training.train` expects."""

    def __init__(self, n_numeric: int, category_sizes: list[int], param: str, t_power: float = 1.0,
                 snr_weight: bool = False) -> None:
        self.n_numeric, self.layout, self.param = n_numeric, multinomial.Layout(category_sizes), param
        self.t_power = t_power  # t = 1 - (1 - u)^p: p > 1 trains (and the teacher steps) more near the data
        # x1 param: weight the numerics' squared error by 1 + (t / (1 - t))^2 (at most SNR_WEIGHT_CAP), which is how
        # an epsilon-predicting model's loss weighs the implied x1 error on this path (plus 1 to keep high noise).
        self.snr_weight = snr_weight

    @property
    def width(self) -> int:
        return self.n_numeric + self.layout.flat_width

    def to_vector(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        return torch.cat([x_num, 2 * self.layout.flat_onehot(x_cat) - 1], dim=1)

    def split(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Row vectors at t = 1 -> clipped numerics and categorical codes: the argmax of each block, or with a
        generator a draw from p = (x + 1) / 2 (x1 param: the last Euler step lands on 2 p - 1)."""
        if not self.layout.n_columns:
            return x[:, : self.n_numeric].clamp(-CLIP, CLIP), x.new_zeros((len(x), 0), dtype=torch.long)
        blocks = self.layout.pad_logits(x[:, self.n_numeric :])
        if generator is None:
            codes = blocks.argmax(-1)
        else:
            p = torch.where(self.layout.mask, ((blocks + 1) / 2).clamp(min=1e-6), 0.0)
            codes = torch.multinomial(p.reshape(-1, p.shape[-1]), 1, generator=generator).reshape(p.shape[:2])
        return x[:, : self.n_numeric].clamp(-CLIP, CLIP), codes

    def pair_loss(self, model, z, x_num, x_cat, y, generator, weighted: bool = True,
                  levels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Numeric and categorical loss on the path from noise z to the rows (x_num, x_cat); `weighted=False` drops
        the SNR weight even where the flow has one (the reflow round); `levels` restricts t to those grid levels."""
        x1 = self.to_vector(x_num, x_cat)
        if levels is not None:
            ti = levels[torch.randint(0, len(levels), (len(x1),), generator=generator)]
        elif self.t_power == 1.0:
            ti = torch.randint(0, GRID, (len(x1),), generator=generator)
        else:
            u = torch.rand((len(x1),), generator=generator)
            ti = ((1 - (1 - u) ** self.t_power) * GRID).long().clamp(max=GRID - 1)
        t = (ti / GRID)[:, None]
        out = model((1 - t) * z + t * x1, ti, y)
        d, zero = self.n_numeric, out.new_zeros(())
        if self.param == "velocity":
            err = (out - (x1 - z)) ** 2
            return (err[:, :d].mean() if d else zero), (err[:, d:].mean() if self.layout.n_columns else zero)
        if self.snr_weight and weighted:
            weight = (1 + (t / (1 - t)) ** 2).clamp(max=SNR_WEIGHT_CAP)
            loss_num = (weight * (out[:, :d] - x_num) ** 2).mean() / weight.mean() if d else zero
        else:
            loss_num = ((out[:, :d] - x_num) ** 2).mean() if d else zero
        if not self.layout.n_columns:
            return loss_num, zero
        logits = self.layout.pad_logits(out[:, d:])
        return loss_num, torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x_cat.reshape(-1))

    def loss(self, model, x_num, x_cat, y, generator, low_precision=False) -> tuple[torch.Tensor, torch.Tensor]:
        """`training.train`'s loss hook (float32 only: low_precision is not used)."""
        z = torch.randn((len(x_num), self.width), generator=generator)
        return self.pair_loss(model, z, x_num, x_cat, y, generator)

    def predict_x1(self, model, x: torch.Tensor, ti: torch.Tensor, y) -> torch.Tensor:
        """E[x1 | x_t] as one row vector: the numerics, and 2p - 1 for each categorical level (x1 param only)."""
        out = model(x, ti, y)
        d = self.n_numeric
        probs = torch.softmax(self.layout.pad_logits(out[:, d:]), dim=-1)[:, self.layout.mask]  # flat one-hot order
        return torch.cat([out[:, :d], 2 * probs - 1], dim=1)

    def velocity(self, model, x: torch.Tensor, ti: torch.Tensor, y) -> torch.Tensor:
        if self.param == "velocity":
            return model(x, ti, y)
        return (self.predict_x1(model, x, ti, y) - x) / (1 - ti[:, None].float() / GRID)

    @torch.no_grad()
    def sample(self, model, z: torch.Tensor, y, steps: int, power: float = 1.0, eta: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Euler from t = 0 to 1 in `steps` steps, on the grid of t levels at t_i = 1 - (1 - i / steps)^power
        (equal steps where power is 1 and steps divides GRID; levels that round together are merged).

        eta > 0 (x1 param): Euler-Maruyama on the SDE with the same marginals, dx = [v + eta (t x1_hat - x) /
        (1 - t)] dt + sqrt(2 eta (1 - t)) dW (the score of x_t ~ N(t x1, (1 - t)^2) scaled by half the noise
        variance); no noise on the last step."""
        grid = sorted({round((1 - (1 - i / steps) ** power) * GRID) for i in range(steps + 1)})
        x = z
        for now, later in zip(grid, grid[1:]):
            ti = torch.full((len(z),), now, dtype=torch.long)
            h, t = (later - now) / GRID, now / GRID
            if eta == 0.0 or later == GRID:
                x = x + self.velocity(model, x, ti, y) * h
                continue
            x1 = self.predict_x1(model, x, ti, y)
            drift = (x1 - x) / (1 - t) + eta * (t * x1 - x) / (1 - t)
            noise = torch.randn(x.shape, generator=generator)
            x = x + drift * h + math.sqrt(2 * eta * (1 - t) * h) * noise
        return x


class Coupled:
    """Reflow's training set: fixed (noise, teacher row) pairs, read by the row index that `train` batches."""

    def __init__(self, flow: Flow, z: torch.Tensor, rows: torch.Tensor, levels: torch.Tensor | None = None) -> None:
        self.flow, self.z, self.levels = flow, z, levels
        self.x_num, self.x_cat = flow.split(rows)

    def loss(self, model, index, _x_cat, y, generator, low_precision=False):
        """Unweighted: a 1-2 step student is evaluated at t = 0 (and 0.5), where the SNR weight is smallest (with it,
        experiments.md: test R2 0.7723 at one step from a 0.8051 teacher)."""
        rows = index[:, 0].long()
        return self.flow.pair_loss(model, self.z[rows], self.x_num[rows], self.x_cat[rows], y, generator, weighted=False,
                                   levels=self.levels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="churn2")
    parser.add_argument("--param", default="x1", choices=["x1", "velocity"])
    parser.add_argument("--steps", type=int, help="training steps (default: the default preset's auto_steps)")
    parser.add_argument("--sample-steps", default="50,10,4", help="Euler steps of the flow itself")
    parser.add_argument("--pairs", type=int, help="reflow couplings (default: 4x the train rows, at least 50,000)")
    parser.add_argument("--teacher-steps", type=int, default=50, help="Euler steps that make the couplings")
    parser.add_argument("--reflow-steps", type=int, default=3000, help="training steps of the reflow round (0: none)")
    parser.add_argument("--student-steps", default="4,2,1", help="Euler steps of the reflowed flow")
    parser.add_argument("--catboost-seeds", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also fit and score the default preset at the same steps")
    parser.add_argument("--eta", default="0", help="comma-separated noise levels of the flow's own sampler (0: Euler ODE)")
    parser.add_argument("--snr-weight", action="store_true", help="x1 param: epsilon-like weights on the numerics' error")
    parser.add_argument("--film", action="store_true", help="FiLM in the flow's denoiser, as the default preset has")
    parser.add_argument("--t-power", type=float, default=1.0, help="t = 1 - (1 - u)^p for training and the teacher's steps")
    parser.add_argument("--student-times", default="all", choices=["all", "grid"],
                        help="reflow round trains on every t (all) or only on the students' Euler grid levels (grid)")
    parser.add_argument("--calibrate", action="store_true",
                        help="also score each set after the package's marginal calibration (maps learnt from 20,000 rows)")
    parser.add_argument("--categories", default="argmax", choices=["argmax", "sample"],
                        help="scored sets: each categorical is the argmax of its block at t = 1, or drawn from it")
    parser.add_argument("--throughput-rows", type=int, default=0,
                        help="also time each student on this many rows (batches of 16,384; float32 and bfloat16)")
    parser.add_argument("--save-sets", help="folder: write each scored set as <variant>.parquet (scratch analysis)")
    parser.add_argument("--teacher", help="weights file (scratch): load the teacher and its couplings if present, else save them")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load(args.dataset)
    task = "classification" if data.is_classification else "regression"
    encoder = td.Synthesizer(seed=args.seed, steps=1, verbose=False).fit(data.train, target=TARGET, task=task).encoder_
    encoded = encoder.encode(data.train, dequantize=np.random.default_rng(args.seed))
    flow = Flow(len(encoder.numeric_), encoder.category_sizes, args.param, args.t_power, args.snr_weight)
    preset = PRESETS["default"]
    d_t = auto_width(MLPDenoiser.input_features(flow.width, flow.n_numeric, preset.fourier_features))
    model = MLPDenoiser(flow.width, list(auto_layers(len(data.train))), encoder.n_classes, d_t,
                        n_numeric=flow.n_numeric, fourier_features=preset.fourier_features, film=args.film)
    generator = torch.Generator().manual_seed(args.seed)
    reset_parameters(model, generator)
    steps = args.steps or auto_steps(len(data.train), preset.batch_size)
    fit = dict(batch_size=preset.batch_size, weight_decay=preset.weight_decay, ema_decay=preset.ema_decay,
               generator=generator, time_budget=None, verbose=False)
    y = None if encoded.y is None else torch.from_numpy(encoded.y)
    start = time.perf_counter()
    saved = torch.load(args.teacher, weights_only=True) if args.teacher and os.path.exists(args.teacher) else {}
    if saved:
        teacher = model.requires_grad_(False).eval()
        teacher.load_state_dict(saved["teacher"])
    else:
        teacher, history = train(model, flow, torch.from_numpy(encoded.x_num), torch.from_numpy(encoded.x_cat), y, steps=steps, lr=preset.lr, **fit)
    print(json.dumps({"stage": "flow fit", "param": args.param, "steps": steps, "loaded": bool(saved),
                      "seconds": round(time.perf_counter() - start, 1)}), flush=True)

    def labels(count: int, g: torch.Generator) -> torch.Tensor | None:
        freq = encoder.class_frequencies_
        return None if freq is None else torch.multinomial(torch.as_tensor(freq, dtype=torch.float32), count, replacement=True, generator=g)

    def report(name: str, fake, rows_per_s: float) -> None:
        if args.save_sets:
            os.makedirs(args.save_sets, exist_ok=True)
            fake.to_parquet(os.path.join(args.save_sets, name.replace(" ", "_") + ".parquet"))
        result = td.evaluate(data.train, fake, data.test, target=TARGET, task=task, seed=args.seed, verbose=False,
                             metrics=["fidelity", "detection", "privacy"])
        scored = [catboost_score(fake, data, seed=s) for s in range(args.catboost_seeds)]
        keep = ("fidelity.column_shapes_error", "fidelity.column_pair_trends_error", "detection.gbm_auc", "detection.logreg_auc", "privacy.dcr_share")
        print(json.dumps({"variant": name, "rows_per_s": round(rows_per_s) if rows_per_s == rows_per_s else None,
                          "val": round(float(np.mean([s["val_score"] for s in scored])), 4),
                          "test": round(float(np.mean([s["score"] for s in scored])), 4),
                          **{k.split(".")[1]: round(result.scores[k], 4) for k in keep if k in result.scores}}), flush=True)

    def draw(net, count: int, euler_steps: int, power: float, eta: float, seed: int) -> Encoded:
        g = torch.Generator().manual_seed(seed)
        y_new, z = labels(count, g), torch.randn((count, flow.width), generator=g)
        x_num, x_cat = flow.split(flow.sample(net, z, y_new, euler_steps, power, eta, g), g if args.categories == "sample" else None)
        return Encoded(x_num.numpy(), x_cat.numpy(), None if y_new is None else y_new.numpy())

    def throughput(name: str, net, euler_steps: int, batch: int = 16384) -> None:
        """Rows/s of sampling plus decoding `--throughput-rows` rows in batches, float32 and bfloat16 matrix products."""
        for precision in ("float32", "bfloat16"):
            start = time.perf_counter()
            for i in range(0, args.throughput_rows, batch):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                    codes = draw(net, min(batch, args.throughput_rows - i), euler_steps, 1.0, 0.0, args.seed + 3 + i)
                encoder.decode(Encoded(codes.x_num.astype(np.float32), codes.x_cat, codes.y), np.random.default_rng(i))
            seconds = time.perf_counter() - start
            print(json.dumps({"throughput": name, "precision": precision, "rows": args.throughput_rows,
                              "seconds": round(seconds, 2), "rows_per_s": round(args.throughput_rows / seconds)}), flush=True)

    def score(name: str, net, euler_steps: int, power: float = 1.0, eta: float = 0.0) -> None:
        start = time.perf_counter()
        codes = draw(net, len(data.train), euler_steps, power, eta, args.seed + 1)
        fake = encoder.decode(codes, np.random.default_rng(args.seed + 1))
        report(name, fake, len(data.train) / (time.perf_counter() - start))
        if args.calibrate and flow.n_numeric:
            own = draw(net, 20_000, euler_steps, power, eta, args.seed + 2)
            calibration = MarginalCalibration.fit(own.x_num, encoded.x_num, encoder.observed_numeric(own.x_cat),
                                                  encoder.observed_numeric(encoded.x_cat), fixed=encoder.snapped_numeric())
            calibrated = Encoded(calibration.apply(codes.x_num).astype(np.float32), codes.x_cat, codes.y)
            report(name + " calibrated", encoder.decode(calibrated, np.random.default_rng(args.seed + 1)), float("nan"))

    for k in [int(v) for v in args.sample_steps.split(",") if v]:  # "": no teacher rows
        for eta in map(float, args.eta.split(",")):
            score(f"flow euler {k}" + (f" eta {eta:g}" if eta else ""), teacher, k, args.t_power, eta)

    if args.reflow_steps:
        pairs = args.pairs or max(50_000, 4 * len(data.train))
        g = torch.Generator().manual_seed(args.seed + 7)
        y_pairs, z_pairs = labels(pairs, g), torch.randn((pairs, flow.width), generator=g)
        start = time.perf_counter()
        if "rows" in saved and len(saved["rows"]) == pairs:
            rows = saved["rows"]
        else:
            rows = torch.cat([flow.sample(teacher, z_pairs[i : i + 16384], None if y_pairs is None else y_pairs[i : i + 16384], args.teacher_steps, args.t_power)
                              for i in range(0, pairs, 16384)])
        if args.teacher and not saved:
            torch.save({"teacher": teacher.state_dict(), "rows": rows}, args.teacher)
        pair_seconds = time.perf_counter() - start
        index = torch.arange(pairs, dtype=torch.float32)[:, None]
        levels = None
        if args.student_times == "grid":
            levels = torch.tensor(sorted({round(i * GRID / k) for k in map(int, args.student_steps.split(",")) for i in range(k)}))
        start = time.perf_counter()
        student, _ = train(copy.deepcopy(teacher).requires_grad_(True), Coupled(flow, z_pairs, rows, levels), index,
                           torch.zeros((pairs, 0), dtype=torch.long), y_pairs, steps=args.reflow_steps, lr=5e-4,
                           **{**fit, "generator": torch.Generator().manual_seed(args.seed + 11)})  # same whether the teacher was loaded or trained
        print(json.dumps({"stage": "reflow", "pairs": pairs, "levels": None if levels is None else levels.tolist(), "pair_seconds": round(pair_seconds, 1),
                          "train_seconds": round(time.perf_counter() - start, 1)}), flush=True)
        for k in map(int, args.student_steps.split(",")):
            score(f"reflow euler {k}", student, k)
            if args.throughput_rows:
                throughput(f"reflow euler {k}", student, k)

    if args.baseline:
        start = time.perf_counter()
        default = td.Synthesizer(seed=args.seed, steps=steps, verbose=False).fit(data.train, target=TARGET, task=task)
        print(json.dumps({"stage": "default fit", "seconds": round(time.perf_counter() - start, 1)}), flush=True)
        start = time.perf_counter()
        fake = default.sample(len(data.train), seed=args.seed + 1)
        report("default ddim 50", fake, len(data.train) / (time.perf_counter() - start))


if __name__ == "__main__":
    main()

"""The training loop: AdamW with linear learning-rate decay, EMA weights, a step and/or wall-clock budget, an
optional stop when a check of the EMA model fails (the memorisation stop), and optional DP-SGD (Opacus)."""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ._memory import release_freed_memory
from .diffusion.process import Process
from .distributed import World
from .errors import TrainingDivergedError

RELEASE_SECONDS = 3.0  # between hand-backs of freed heap memory to the OS on CPU (keeps a long fit's memory flat;
# a time interval, not a step count: trimming every few steps costs step time in re-faulted pages;
# docs/experiments.md, "Memory of long fits")


@dataclass
class History:
    """Per-step losses of one fit, kept on the synthesizer for plotting and diagnosis."""

    loss_numeric: list[float] = field(default_factory=list)
    loss_categorical: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by: str = "steps"  # "steps", "time_budget" or "memorisation" (a check failed; see Checks)
    checks: list[dict[str, float]] = field(default_factory=list)  # {"step": s, **probe values, "seconds": t} per check
    kept_step: int | None = None  # the step whose EMA weights were kept, where a failed check rolled them back

    @property
    def loss(self) -> list[float]:
        return [a + b for a, b in zip(self.loss_numeric, self.loss_categorical)]

    @property
    def steps(self) -> int:
        return len(self.loss_numeric)


def warn_if_cut_short(history: History, steps: int, min_proximity: float, time_budget: float | None) -> None:
    """Warn where the memorisation stop or the time budget ended a fit's training of `steps` steps so early that the
    model is poor; called from Synthesizer._fit, so stacklevel 3 attributes the warning to Synthesizer.fit."""
    if history.stopped_by == "memorisation" and history.kept_step is None:
        warnings.warn(
            f"Rows sampled after {history.steps} training steps already sit closer to training rows than training "
            f"rows sit to each other (proximity ratio {history.checks[-1]['proximity']:.2f}, below min_proximity="
            f"{min_proximity}), so training stopped there. The table may be too small or too repetitive to "
            "synthesize without copying rows: check the privacy section of `tabdiffusion report`.",
            UserWarning, stacklevel=3,
        )
    if history.stopped_by == "time_budget" and history.steps < steps // 10:
        warnings.warn(
            f"time_budget={time_budget} s stopped training after {history.steps} of {steps} steps, so the "
            "model is barely trained and its rows will be poor. Raise time_budget or pass fewer steps=.",
            UserWarning, stacklevel=3,
        )


@dataclass(frozen=True)
class TrainingStep:
    """What `Synthesizer.fit(callback=...)` receives after each training step, for logging to a tracker or probing
    the model: the step (from 1), the planned steps, the step's losses, the seconds since the fit's training began,
    and, read-only, the EMA denoiser (the model that samples), the process (its `loss`) and the fitted table encoder."""

    step: int
    steps: int
    loss_numeric: float
    loss_categorical: float
    seconds: float
    model: torch.nn.Module
    process: Process
    encoder: object  # the TableEncoder


def step_reporter(callback: Callable[[TrainingStep], None] | None, steps: int, process: Process,
                  encoder: object) -> Callable[[int, torch.nn.Module, float, float], None] | None:
    """train's on_step for a fit of `steps` steps that hands `callback` a TrainingStep after each step, its seconds
    counted from this call; None without a callback."""
    began = time.perf_counter()
    if callback is None:
        return None

    def on_step(step: int, ema: torch.nn.Module, loss_numeric: float, loss_categorical: float) -> None:
        callback(TrainingStep(step, steps, loss_numeric, loss_categorical, time.perf_counter() - began, ema, process,
                              encoder))

    return on_step


@dataclass(frozen=True)
class Checks:
    """Check the EMA model with probe(ema) (named values) after each of `steps`; where passes(values) is False, stop
    training and go back to the EMA weights of the last check that passed (or keep the current ones if none did)."""

    steps: frozenset[int]
    probe: Callable[[torch.nn.Module], dict[str, float]]
    passes: Callable[[dict[str, float]], bool]


# What `train` minimises: loss(model, rows, generator, low_precision, per_row) -> (numeric loss, categorical loss)
# for the training rows at the indices `rows` (B,), each the batch mean or, with per_row, each row's share (B,).
BatchLoss = Callable[[torch.nn.Module, torch.Tensor, torch.Generator, bool, bool], tuple[torch.Tensor, torch.Tensor]]


def table_loss(process: Process, x_num: torch.Tensor, x_cat: torch.Tensor, y: torch.Tensor | None) -> BatchLoss:
    """The BatchLoss of a process (MixedDiffusion, RectifiedFlow: its `loss`) on the rows of one encoded table."""

    def loss(model: torch.nn.Module, rows: torch.Tensor, generator: torch.Generator, low_precision: bool = False,
             per_row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        return process.loss(model, x_num[rows], x_cat[rows], None if y is None else y[rows], generator, low_precision,
                            **({"per_row": True} if per_row else {}))

    return loss


@dataclass(frozen=True)
class PrivateTraining:
    """DP-SGD's settings (dp.py): each step takes every row with probability sample_rate (Poisson sampling, which
    the accountant assumes), clips each row's gradient to max_grad_norm and adds Gaussian noise of sd
    noise_multiplier * max_grad_norm to their sum (Opacus' DPOptimizer)."""

    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float


def _poisson_batches(n: int, sample_rate: float, generator: torch.Generator, device: torch.device):
    """Endless index batches, each row in each with probability sample_rate (a batch may be empty)."""
    while True:
        yield torch.nonzero(torch.rand(n, generator=generator, device=device) < sample_rate).flatten()


def _clipped_backward(trained: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: BatchLoss, rows: torch.Tensor,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Leave the sum of the batch's row gradients, each clipped, in the parameters' grads (Opacus' two-pass ghost
    clipping: per-row norms from the first backward pass, then the rows' losses weighted by their clipping
    coefficients); the batch's mean losses."""
    from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

    rows_num, rows_cat = loss(trained, rows, generator, False, True)
    DPTensorFastGradientClipping(trained, optimizer, rows_num + rows_cat, "mean").backward()
    return rows_num.mean().detach(), rows_cat.mean().detach()


class EpochBatches:
    """Endless index batches: a fresh permutation each epoch, like a shuffling data loader, drawn from `generator`
    when the epoch's first batch is asked for. Its place, the epoch's `order` (None before the first batch) and the
    next batch's `start`, is plain state, so that a checkpoint can save and restore it."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> None:
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self.order: torch.Tensor | None = None
        self.start = 0

    def __iter__(self) -> "EpochBatches":
        return self

    def __next__(self) -> torch.Tensor:
        """The next batch's row indices; a new epoch's permutation once the last full batch of the order is taken."""
        if self.order is None or self.start + self.batch_size > self.n:
            self.order, self.start = torch.randperm(self.n, generator=self.generator, device=self.device), 0
        self.start += self.batch_size
        return self.order[self.start - self.batch_size : self.start]


@dataclass
class TrainingState:
    """The live objects of a running `train` that a checkpoint saves and, on resume, restores in place
    (checkpoint.Checkpointer): the denoiser, its EMA copy, the optimizer, the random generator of batches and noise,
    the place in the epoch and the loss history."""

    model: torch.nn.Module
    ema: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    batches: EpochBatches
    history: History


@dataclass(frozen=True)
class Resumed:
    """Where a restored checkpoint left training: the steps done, the EMA weights of the last memorisation check that
    passed (None if none did) and the training seconds spent (counted against the time budget)."""

    step: int
    passed: dict[str, torch.Tensor] | None
    seconds: float


class Checkpointer(Protocol):
    """What `train` asks of a checkpoint (checkpoint.Checkpointer implements it): restore the state it holds before
    the first step, and save the state after a step."""

    def restore(self, state: TrainingState) -> Resumed | None: ...

    def after_step(self, state: TrainingState, step: int, steps: int, passed: dict[str, torch.Tensor] | None,
                   seconds: float) -> None: ...


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW as one fused kernel per parameter where PyTorch has one for the device (CUDA; the CPU from torch 2.4),
    else PyTorch's default, which on a CPU updates one tensor at a time with several kernels; fused steps are faster
    (experiments/step_time.py --optimizer default,fused; docs/experiments.md, "Training-loop details measured on
    this CPU")."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # no fused kernel for these parameters' device or dtype
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def schedule_progress(step: int, steps: int, loop_seconds: float, loop_budget: float | None) -> float:
    """Share of training done, for the linear learning-rate decay: step / steps, or the share of the loop's time
    budget spent once that is larger, i.e. once the mean step so far would not fit all `steps` in the budget.

    Time counts from the first step (not the set-up), so a budget that does not bind gives the same fit, bit for
    bit, as no budget; one that binds decays the rate by time and the fit depends on the machine's speed.
    """
    by_steps = step / steps
    if loop_budget is None or step == 0:
        return by_steps
    return min(1.0, max(by_steps, loop_seconds / loop_budget))


def train(
    model: torch.nn.Module,
    loss: BatchLoss,
    n_rows: int,
    *,
    steps: int,
    time_budget: float | None,
    batch_size: int,
    lr: float,
    weight_decay: float,
    ema_decay: float,
    generator: torch.Generator,
    low_precision: bool = False,
    verbose: bool = True,
    on_step: Callable[[int, torch.nn.Module, float, float], None] | None = None,
    checks: Checks | None = None,
    private: PrivateTraining | None = None,
    world: World | None = None,
    checkpoint: Checkpointer | None = None,
) -> tuple[torch.nn.Module, History]:
    """Train `model` in place on `n_rows` training rows, whose batch losses `loss` computes (table_loss), and return
    its EMA copy (used for sampling) and the loss history.

    With a time budget, training stops while one more step (at the mean step time so far) would still fit, leaving
    that step's time for the work after the loop, so the whole fit ends inside the budget (the first step always
    runs); the learning rate decays linearly with whichever of steps or time runs out first (schedule_progress), so
    the stopping step depends on the machine's speed only where the budget binds. low_precision runs the denoiser's
    forward pass in bfloat16 (autocast) while weights, optimizer state and losses stay float32 (mixed precision).
    `checks` (optional) probes the EMA model at given steps and stops training when a probe fails (Checks).
    `private` (optional) trains with DP-SGD (PrivateTraining): Poisson-sampled batches instead of epochs, and each
    row's gradient clipped by Opacus' ghost clipping (the denoiser computes its embeddings per row for it,
    `per_row_embedding`).
    `world` (optional) trains as one rank of a distributed fit (distributed.py): `batch_size` is the global batch,
    each rank trains on its slice of it in DistributedDataParallel, the losses recorded are the global batch's, and
    the time budget's stop and learning rate and the checks' values are rank 0's.
    `checkpoint` (optional, not with `private` or `world`) restores the training state of its last checkpoint before
    the first step, if it holds one, and saves the state every few steps (checkpoint.Checkpointer); a resumed fit of a
    fixed number of steps ends with the same weights, bit for bit, as one that was never interrupted.
    """
    start = time.perf_counter()  # set-up counts against the budget (the first optimizer can take a second)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = _adamw(model, lr, weight_decay)
    params, ema_params = list(model.parameters()), list(ema.parameters())
    device = next(model.parameters()).device
    batch_size = min(batch_size, n_rows) if world is None else world.global_batch(min(batch_size, n_rows))
    batches = EpochBatches(n_rows, batch_size, generator, device)
    trained: torch.nn.Module = model
    if world is not None:  # the same global batches on every rank, each training on its slice with its own noise
        trained, batches, generator = world.wrap(model), world.shard(batches), world.own_generator(generator)
    if private is not None:  # ghost clipping: each row's gradient norm without materialising per-row gradients
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizerFastGradientClipping

        model.per_row_embedding = True
        trained = GradSampleModuleFastGradientClipping(model, loss_reduction="mean", max_grad_norm=private.max_grad_norm,
                                                       use_ghost_clipping=True)
        optimizer = DPOptimizerFastGradientClipping(
            optimizer, noise_multiplier=private.noise_multiplier, max_grad_norm=private.max_grad_norm,
            expected_batch_size=max(1, round(private.sample_rate * n_rows)), loss_reduction="mean", generator=generator)
        batches = _poisson_batches(n_rows, private.sample_rate, generator, device)
    history = History()
    state = TrainingState(model, ema, optimizer, generator, batches, history)
    bar = tqdm(total=steps, disable=not verbose, desc="fit", unit="step", dynamic_ncols=True, mininterval=0.5)
    model.train()
    released = 0.0  # when freed memory was last handed back, in seconds since start
    passed: dict[str, torch.Tensor] | None = None  # EMA weights at the last check that passed
    # Dropout draws from the global RNG: fork it so training is reproducible and leaves the caller's state alone.
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
        # Opacus' hooks fire on the first layer's output, whose input (the data) needs no gradient: expected.
        warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=device)))
        loop_start, first = time.perf_counter(), 0
        resumed = None if checkpoint is None else checkpoint.restore(state)  # also the global RNG forked above
        if resumed is not None:  # the checkpoint's training seconds count as spent, so both clocks start before now
            first, passed, start = resumed.step, resumed.passed, time.perf_counter() - resumed.seconds
            loop_start = start
            bar.update(first)
        loop_budget = None if time_budget is None else max(1e-9, time_budget - (loop_start - start))
        for step in range(first, steps):
            now = time.perf_counter()
            elapsed = now - start
            out_of_time = time_budget is not None and step > 0 and elapsed * (step + 2) / step >= time_budget
            progress = schedule_progress(step, steps, now - loop_start, loop_budget)
            if world is not None and time_budget is not None:  # one clock for all ranks: rank 0's
                out_of_time, progress = world.agree(out_of_time, progress)
            if out_of_time:
                history.stopped_by = "time_budget"
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - progress)
            index = next(batches)
            if len(index) == 0:  # an empty Poisson batch: no update, but the step counts for the accountant
                history.loss_numeric.append(history.loss_numeric[-1] if step else 0.0)
                history.loss_categorical.append(history.loss_categorical[-1] if step else 0.0)
                bar.update()
                continue
            optimizer.zero_grad(set_to_none=True)
            if private is None:
                loss_num, loss_cat = loss(trained, index, generator, low_precision, False)
                (loss_num + loss_cat).backward()
            else:
                loss_num, loss_cat = _clipped_backward(trained, optimizer, loss, index, generator)
            optimizer.step()
            # EMA with a warm-up (decay grows as (1+s)/(10+s) up to ema_decay) so short fits are not stuck near init.
            torch._foreach_lerp_(ema_params, params, 1 - min(ema_decay, (1 + step) / (10 + step)))
            losses = torch.stack([loss_num.detach(), loss_cat.detach()])
            ln, lc = (losses if world is None else world.mean(losses)).tolist()  # one device sync per step
            if not math.isfinite(ln + lc):
                raise TrainingDivergedError(
                    f"Training diverged at step {step}: the loss became {ln + lc} (numeric {ln}, categorical {lc}). "
                    f"Lower lr (now {lr}) or check the data for extreme values."
                )
            history.loss_numeric.append(ln)
            history.loss_categorical.append(lc)
            if on_step is not None:  # fit(callback=): logging, a held-out loss probe (experiments/heldout_loss.py)
                on_step(step + 1, ema, ln, lc)
            if checks is not None and step + 1 in checks.steps:
                probed = time.perf_counter()
                values = checks.probe(ema)
                if world is not None:  # rank 0's values, so that every rank stops (or goes on) together
                    values = dict(zip(values, world.agree(*values.values())))
                history.checks.append({"step": step + 1, **values, "seconds": time.perf_counter() - probed})
                if not checks.passes(values):
                    history.stopped_by = "memorisation"
                    if passed is not None:
                        ema.load_state_dict(passed)
                        history.kept_step = int(history.checks[-2]["step"])
                    bar.update()
                    break
                passed = {k: v.clone() for k, v in ema.state_dict().items()}
            if checkpoint is not None:
                checkpoint.after_step(state, step + 1, steps, passed, time.perf_counter() - start)
            if device.type == "cpu" and elapsed - released >= RELEASE_SECONDS:
                release_freed_memory()
                released = elapsed
            if step % 25 == 0:
                bar.set_postfix(loss=f"{ln + lc:.4f}", refresh=False)
            bar.update()
    bar.close()
    if world is not None:  # DistributedDataParallel kept the ranks' weights equal: verify it once, cheaply
        world.check_identical("The trained EMA weights", list(ema.state_dict().values()))
    if private is not None:
        trained._close()  # removes Opacus' hooks and per-row gradients from `model`
        model.per_row_embedding = False
    history.seconds = time.perf_counter() - start
    model.eval()
    return ema.eval(), history

"""Distributed training under torchrun: the launcher's environment, the process group, each rank's share of every
batch and the decisions every rank must take together (torch.distributed, DistributedDataParallel).

`tabdiffusion fit` (or `Synthesizer.fit` in a script) started by `torchrun --nproc_per_node=N` runs one fit per
process. Everything before training (schema, encoder, initial weights) is seeded, so it is the same on every rank,
which check_identical verifies. Every rank draws the same permutation of the rows each epoch and the same global
batches of `batch_size` rows (rounded down to a multiple of the world size); rank r trains on the r-th slice of each
(as torch.utils.data.DistributedSampler does), with noise of its own, and DistributedDataParallel averages the
gradients, so N processes take steps like one process's with the same global batch. The parameters, and so
the EMA weights, stay the same on every rank. The losses recorded are the global batch's (the ranks' mean). What the
clock decides (the time budget's stop and learning rate) and the memorisation checks' values are rank 0's, broadcast.
What follows training (reflow's couplings, the calibration) runs on every rank from the same seed, and rank 0 alone
writes the model file. A process without torchrun's environment (or with WORLD_SIZE=1) trains as a plain process.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn  # noqa: F401  (see below)

from .errors import ParameterError, TabDiffusionError

# torch.distributed.nn's collectives take the default process group as a default argument, evaluated on import. Torch
# imports that module lazily (with its compiler, on a training run's first optimizer step or in
# DistributedDataParallel); imported after the group is opened, those defaults keep the group alive past
# destroy_process_group, gloo's threads with it, and one of them freeing a collective's tensors while the interpreter
# shuts down aborts the process. Imported above, before any group exists, they hold None.


class DistributedError(TabDiffusionError, RuntimeError):
    """The ranks of a distributed fit disagree on what must be the same on all of them."""


@dataclass(frozen=True)
class Launch:
    """What torchrun tells each process: its global rank, the number of processes and its rank on this machine."""

    rank: int
    world_size: int
    local_rank: int


def launched() -> Launch | None:
    """This process's place in a torchrun launch (RANK, WORLD_SIZE, LOCAL_RANK), or None in a plain process or a
    launch of one process, which train as they always do."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ParameterError("WORLD_SIZE, RANK and LOCAL_RANK must be integers; start distributed fits with "
                             "torchrun, which sets them.") from None
    return Launch(rank, world_size, local_rank) if world_size > 1 else None


def is_main_process() -> bool:
    """Whether this process writes a fit's outputs: rank 0 of a torchrun launch, or any plain process."""
    launch = launched()
    return launch is None or launch.rank == 0


@dataclass(frozen=True)
class World:
    """This rank in an initialised process group, and the device its model and data live on."""

    rank: int
    size: int
    backend: str
    device: torch.device

    def header(self) -> dict[str, int | str]:
        """How the fit was trained, as the model file records it."""
        return {"world_size": self.size, "backend": self.backend}

    def global_batch(self, batch_size: int) -> int:
        """The global batch: `batch_size` rounded down to a multiple of the world size, so every rank trains on as
        many rows per step and the mean of the ranks' mean losses is the global batch's mean loss."""
        if batch_size < self.size:
            raise ParameterError(f"batch_size={batch_size} gives fewer rows than the {self.size} processes of this "
                                 f"distributed fit; pass batch_size of at least {self.size} or start fewer processes.")
        return batch_size - batch_size % self.size

    def shard(self, batches: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        """This rank's slice of each global batch of row indices (every rank draws the same global batches)."""
        for index in batches:
            share = len(index) // self.size
            yield index[self.rank * share : (self.rank + 1) * share]

    def own_generator(self, generator: torch.Generator) -> torch.Generator:
        """A generator of this rank's own, seeded from one draw of the shared `generator` and the rank: the noise and
        timesteps of a rank's rows must differ from the other ranks', while the batches stay the shared generator's."""
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        return torch.Generator(generator.device).manual_seed(seed + self.rank)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` in DistributedDataParallel, which averages the gradients over the ranks in the backward pass;
        buffers are not broadcast each step, since nothing in training changes them."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of `values` over the ranks (every rank gets it)."""
        total = values.to(self.device, torch.float64)
        dist.all_reduce(total)
        return total / self.size

    def agree(self, *values: float) -> tuple[float, ...]:
        """Rank 0's `values` on every rank: decisions taken once, where each rank's clock or draw could differ."""
        shared = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.broadcast(shared, 0)
        return tuple(shared.tolist())

    def check_identical(self, what: str, arrays: list[np.ndarray | torch.Tensor | None]) -> None:
        """Raise a DistributedError on every rank unless `arrays` are the same bytes on all of them (e.g. the encoded
        rows and the initial weights, which a seeded fit makes the same everywhere)."""
        digest = hashlib.sha256()
        for array in arrays:
            if array is not None:
                data = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
                digest.update(str((data.shape, data.dtype)).encode() + np.ascontiguousarray(data).tobytes())
        mine = torch.tensor([int.from_bytes(digest.digest()[:7], "little")], dtype=torch.int64, device=self.device)
        every = [torch.zeros_like(mine) for _ in range(self.size)]
        dist.all_gather(every, mine)
        differing = [rank for rank, theirs in enumerate(every) if int(theirs) != int(every[0])]
        if differing:
            raise DistributedError(f"{what} differ between rank 0 and rank(s) {differing} of this distributed fit: "
                                   "give every process the same table, arguments and seed.")


def device_of(launch: Launch, device: torch.device) -> torch.device:
    """The device a rank trains on: cuda:LOCAL_RANK where `device` is a GPU (one GPU per process), else the CPU."""
    if device.type != "cuda":
        return device
    if launch.local_rank >= torch.cuda.device_count():
        raise ParameterError(f"LOCAL_RANK={launch.local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
                             "start at most one process per GPU (torchrun --nproc_per_node), or pass device='cpu'.")
    return torch.device("cuda", launch.local_rank)


@contextmanager
def process_group(device: torch.device) -> Iterator[World | None]:
    """This process's rank in the torchrun launch it belongs to (gloo on the CPU, NCCL on GPUs, this rank on
    cuda:LOCAL_RANK), or None in a plain process. The first fit opens the default process group unless the caller
    already has, and it stays open for later fits in the same process until the process exits: torch cannot reliably
    open the default group again after destroying it in one process (the store's keys of the first group remain)."""
    launch = launched()
    if launch is None:
        yield None
        return
    device = device_of(launch, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
        atexit.register(_close_process_group)
    yield World(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()), device)


def _close_process_group() -> None:
    """Destroy the default process group at exit, if it is still open (the caller may have destroyed it)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def check_supported(dp_epsilon: float | None, reflow_with_budget: bool, checkpointed: bool = False) -> None:
    """Refuse, in a distributed fit, what it cannot share out: DP-SGD (whose noise and accountant assume one process),
    the flow preset's reflow under a time budget (each rank's clock would cut its couplings elsewhere) and checkpoints
    (each rank's random generators differ, and one checkpoint holds one process's)."""
    if checkpointed:
        raise ParameterError("checkpoint_dir is not supported in a distributed fit (torchrun) yet: fit with "
                             "checkpoints in one process, or without --checkpoint-dir under torchrun.")
    if dp_epsilon is not None:
        raise ParameterError("dp_epsilon is not supported in a distributed fit (torchrun): fit a differentially "
                             "private model in one process.")
    if reflow_with_budget:
        raise ParameterError("preset='flow' with a time_budget is not supported in a distributed fit (torchrun): "
                             "pass steps= without time_budget, reflow_steps=0, or fit in one process.")

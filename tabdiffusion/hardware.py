"""Where a fit or a sample runs: the torch device, and whether bfloat16 matrix products pay off on it.

The precision rule reads the hardware only (never a timing), so that a seeded fit repeats on one machine.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch
from threadpoolctl import threadpool_limits

from .config import ModelConfig
from .errors import ParameterError


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' is CUDA when available, else CPU; anything else must be a torch device string."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} but PyTorch sees no CUDA GPU here; use device='auto' or 'cpu'.")
    return resolved


def bfloat16_is_native(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run in hardware here: a CUDA GPU of compute capability 8.0 or newer, or a
    CPU with AVX512-BF16 or AMX.

    Elsewhere bfloat16 is emulated and slower than float32, so 'auto' sampling and training precision stay in float32.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type != "cpu":
        return False
    return _cpu_has("_is_avx512_bf16_supported") or _cpu_has("_is_amx_tile_supported")


def cpu_vendor() -> str:
    """The CPU's vendor string ('GenuineIntel', 'AuthenticAMD', ...) from /proc/cpuinfo, else what
    platform.processor() says (on Windows it ends in the vendor; elsewhere it may be '' or only the architecture)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def bfloat16_is_faster(device: torch.device) -> bool:
    """Whether the denoiser's matrix products run faster in bfloat16 than in float32 on `device` (training steps and
    sampling), decided from the hardware alone so that a seeded fit is reproducible on one machine.

    Native bfloat16 is not enough on a CPU: AVX512-BF16 made the default's training steps faster on an AMD EPYC but
    slower on an Intel Xeon without AMX (experiments.md, "Mixed-precision training on this CPU" and "bfloat16
    training on an Intel Xeon without AMX"), and sampling there is faster in float32, since the sampler's forward pass
    is mostly matrix products ("Grouped FiLM at inference"). So a CPU uses bfloat16 with AMX (built for bfloat16
    matrix products; not measured) or with AVX512-BF16 on a CPU known to be AMD's; an unknown vendor stays in float32.
    """
    if device.type != "cpu":
        return bfloat16_is_native(device)
    if _cpu_has("_is_amx_tile_supported"):
        return True
    return _cpu_has("_is_avx512_bf16_supported") and "amd" in cpu_vendor().lower()


def _cpu_has(helper: str) -> bool:
    """One of torch.cpu's private feature checks (present since torch 2.1), False where it is missing."""
    return bool(getattr(torch.cpu, helper, lambda: False)())


def uses_bfloat16(precision: str, device: torch.device) -> bool:
    """Whether a precision setting ('auto', 'float32' or 'bfloat16') runs the denoiser in bfloat16 on `device`."""
    if precision != "auto":
        return precision == "bfloat16"
    return bfloat16_is_faster(device)


def resolve_precisions(config: ModelConfig, device: torch.device) -> ModelConfig:
    """`config` with its 'auto' training and sampling precisions resolved for `device` (uses_bfloat16), once, on the
    fitting machine: stored in the model file, they make the same file and seed sample the same rows on any machine."""
    def resolved(precision: str) -> str:
        return "bfloat16" if uses_bfloat16(precision, device) else "float32"

    return replace(config, training_precision=resolved(config.training_precision),
                   sampling_precision=resolved(config.sampling_precision))


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run the block on at most `threads` CPU threads (torch's intra-op pool and the BLAS/OpenMP pools that numpy
    and scikit-learn use), then restore the previous settings; None leaves them as they are.

    Two jobs that each use every core oversubscribe the machine and both slow down many times over; give each its
    share (e.g. threads=1 for two jobs on two cores).
    """
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
        raise ParameterError(f"threads must be a positive integer or None (all cores), got {threads!r}.")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)

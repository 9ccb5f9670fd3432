"""Model files: one safetensors file holding tensors plus a JSON header; never pickled, written atomically, checked on load.

The header (safetensors metadata) holds `format`, `format_version`, the JSON payload and a SHA-256 over the payload and
every tensor, so a truncated or damaged file is rejected with a clear error instead of producing wrong data. The
checksum is no signature: whoever edits a file can recompute it, so loading also checks the content itself
(check_loaded).

A fitted synthesizer's file (save_model, load_model): the payload holds the version that wrote it, the constructor's
`params`, the fit's `seed`, its resolved `config`, the encoder's state, the loss histories and, for a fit under
torchrun, its world size and backend (`distributed`; null for one process); the tensors are the
denoiser's weights (`model.*`), the encoder's arrays (`encoder.*`) and the calibration's maps (`calibration.*`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from ._random import torch_generator
from .config import ModelConfig, validate_config
from .dp import PrivacySpent
from .errors import ModelFileError, ParameterError
from .fitted import FittedModel, build_networks
from .hardware import uses_bfloat16
from .tables import atomic_write
from .training import History
from .transforms.calibration import MarginalCalibration
from .transforms.support import PairSupport
from .transforms.table import Encoded, TableEncoder

_Restored = TypeVar("_Restored")

FORMAT = "tabdiffusion-model"
FORMAT_VERSION = 1


def payload_digest(payload: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over a JSON payload and named tensors (names, shapes, dtypes and bytes), to catch damaged files."""
    h = hashlib.sha256(payload.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(str(tuple(tensors[name].shape)).encode() + str(tensors[name].dtype).encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def write_model_file(path: str | os.PathLike, payload: dict, tensors: dict[str, torch.Tensor | np.ndarray],
                     file_format: str = FORMAT, format_version: int | None = None) -> Path:
    """Save a JSON payload and named tensors (moved to CPU) to `path` atomically; `file_format` and `format_version`
    name the kind of file in the header (a model file, or a training checkpoint: checkpoint.py)."""
    tensors = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v).detach().cpu().contiguous() for k, v in tensors.items()}
    text = json.dumps(payload, sort_keys=True, allow_nan=False)
    version = FORMAT_VERSION if format_version is None else format_version  # read when called, not when defined
    metadata = {"format": file_format, "format_version": str(version), "payload": text, "sha256": payload_digest(text, tensors)}
    return atomic_write(path, lambda temp: save_file(tensors, temp, metadata=metadata))


def read_model_file(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """Load and verify a model file; tensors come back on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {str(path)!r}. Train one with Synthesizer.fit(...).save(path) or `tabdiffusion fit`.")
    try:
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_size)) if 0 < header_size < 100_000_000 else None
        metadata = (header or {}).get("__metadata__") or {}
    except (OSError, ValueError, UnicodeDecodeError):
        metadata = {}
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a tabdiffusion model file (or its header is damaged).")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{str(path)!r} uses model format version {metadata.get('format_version')}, but this tabdiffusion reads "
            f"version {FORMAT_VERSION}. Load it with the tabdiffusion version that wrote it, or retrain."
        )
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{str(path)!r} is truncated or damaged ({error}). Save the model again.") from None
    if payload_digest(metadata["payload"], tensors) != metadata.get("sha256"):
        raise ModelFileError(f"{str(path)!r} was modified after it was written (checksum mismatch). Save the model again.")
    return json.loads(metadata["payload"]), tensors


def save_model(path: str | os.PathLike, params: dict[str, Any], fitted: FittedModel) -> Path:
    """Write a fitted model and the Synthesizer's constructor arguments `params` to one model file at `path`,
    atomically."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ParameterError(f"save needs a file path, e.g. syn.save('model.tdm'); got {path!r}.")
    encoder_meta, encoder_arrays = fitted.encoder.state()
    privacy = None if fitted.privacy is None else fitted.privacy.to_dict()
    payload = {
        "tabdiffusion_version": __version__,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "seed": fitted.seed,
        "config": asdict(fitted.config),
        "encoder": encoder_meta,
        # A private fit's per-step losses are statistics of the rows outside the guarantee: only the step count is kept.
        "history": asdict(fitted.history if privacy is None else _without_losses(fitted.history)),
        "privacy": privacy,
        "distributed": fitted.distributed,
        "reflow_history": None if fitted.reflow_history is None else asdict(fitted.reflow_history),
    }
    tensors = {f"model.{k}": v for k, v in fitted.model.state_dict().items()}
    tensors.update({f"encoder.{k}": v for k, v in encoder_arrays.items()})
    if fitted.calibration is not None:
        tensors.update({f"calibration.{k}": v for k, v in fitted.calibration.state().items()})
    if fitted.support is not None:
        tensors.update({f"support.{k}": v for k, v in fitted.support.state().items()})
    return write_model_file(path, payload, tensors)


def _without_losses(history: History) -> History:
    """`history` with its per-step losses replaced by zeros (the step count stays readable)."""
    return History([0.0] * history.steps, [0.0] * history.steps, history.seconds, history.stopped_by, [], history.kept_step)


def load_model(path: str | os.PathLike, device: torch.device,
               restore: Callable[[dict[str, Any], FittedModel], _Restored]) -> _Restored:
    """Read the model file at `path`, rebuild its fitted model on `device` and check it (check_loaded), then return
    restore(params, fitted); any error in the file's content, restore's included, is a ModelFileError naming the path."""
    payload, tensors = read_model_file(path)
    try:
        params, fitted = _fitted(payload, tensors, device)
        check_loaded(fitted)
        return restore(params, fitted)
    except Exception as error:  # any inconsistency in the file's content, reported as the file's fault
        raise ModelFileError(
            f"{str(path)!r} cannot be used: its content does not fit together ({type(error).__name__}: {error}). "
            f"It was written by tabdiffusion {payload.get('tabdiffusion_version')}; this is {__version__}. Use the "
            "file as `save` wrote it (the checksum catches damage, not deliberate edits), or save the model again."
        ) from None


def _fitted(payload: dict, tensors: dict[str, torch.Tensor], device: torch.device) -> tuple[dict[str, Any], FittedModel]:
    """The constructor arguments and the fitted model of a model file's payload and tensors, the config validated and
    the networks rebuilt on `device` with the file's weights."""
    params = dict(payload["params"])
    config = validate_config(ModelConfig(**{**payload["config"], "d_layers": tuple(payload["config"]["d_layers"])}),
                             params.get("preset", "default"))
    arrays = {prefix: {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
              for prefix in ("model.", "encoder.", "calibration.", "support.")}
    encoder = TableEncoder.from_state(payload["encoder"], {k: v.numpy() for k, v in arrays["encoder."].items()})
    diffusion, model = build_networks(encoder, config, device)
    model.load_state_dict(arrays["model."])
    return params, FittedModel(
        int(payload["seed"]), config, encoder, device, diffusion, model.to(device).eval(), History(**payload["history"]),
        reflow_history=History(**payload["reflow_history"]) if payload.get("reflow_history") else None,
        calibration=(MarginalCalibration.from_state({k: v.numpy() for k, v in arrays["calibration."].items()})
                     if arrays["calibration."] else None),
        support=PairSupport.from_state({k: v.numpy() for k, v in arrays["support."].items()}) if arrays["support."] else None,
        privacy=None if payload.get("privacy") is None else PrivacySpent(**payload["privacy"]),
        distributed=payload.get("distributed"),
    )


def check_loaded(fitted: FittedModel) -> None:
    """Draw two rows with a two-step sampler and decode them together with every column's extreme codes, so that a
    model file whose parts do not fit together fails at load rather than at sample."""
    encoder, config, device, calibration = fitted.encoder, fitted.config, fitted.device, fitted.calibration
    frequencies = encoder.class_frequencies_
    if frequencies is not None and (len(frequencies) != encoder.n_classes or not np.isfinite(frequencies).all()
                                    or (frequencies < 0).any() or not frequencies.sum() > 0):
        raise ValueError(f"{len(frequencies)} class frequencies for {encoder.n_classes} classes")
    generator = torch_generator(np.random.default_rng(0), device)
    flow = config.process == "flow"
    x_num, x_cat = fitted.diffusion.sample(
        fitted.model, 2, fitted.draw_labels(2, generator), generator, steps=1 if flow else 2, sampler="euler" if flow else "ddim",
        eta=config.eta, low_precision=uses_bfloat16(config.sampling_precision, device),
    )
    sizes = np.asarray(encoder.category_sizes, dtype=np.int64)
    extremes = Encoded(
        np.array([[-8.0] * len(encoder.numeric_), [8.0] * len(encoder.numeric_)], np.float32).reshape(2, -1),
        np.stack([np.zeros_like(sizes), sizes - 1]).reshape(2, -1),
        None if encoder.label_ is None else np.array([0, encoder.n_classes - 1]),
    )
    codes = Encoded(np.concatenate([x_num.cpu().numpy(), extremes.x_num]),
                    np.concatenate([x_cat.cpu().numpy(), extremes.x_cat]),
                    None if extremes.y is None else np.concatenate([extremes.y, extremes.y]))
    if calibration is not None:
        codes = replace(codes, x_num=calibration.apply(codes.x_num).astype(np.float32))
    encoder.decode(codes, np.random.default_rng(0))

"""Model files: one safetensors file holding tensors plus a JSON header; never pickled, written atomically, checked on load.

The header (safetensors metadata) holds `format`, `format_version`, the JSON payload and a SHA-256 over the payload and
every tensor, so a truncated or damaged file is rejected with a clear error instead of producing wrong data. The
checksum is no signature: whoever edits a file can recompute it, so Synthesizer.load also checks the content itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelFileError
from .tables import atomic_write

FORMAT = "tabdiffusion-model"
FORMAT_VERSION = 1


def _digest(payload: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(payload.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(str(tuple(tensors[name].shape)).encode() + str(tensors[name].dtype).encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def write_model_file(path: str | os.PathLike, payload: dict, tensors: dict[str, torch.Tensor | np.ndarray]) -> Path:
    """Save a JSON payload and named tensors (moved to CPU) to `path` atomically."""
    tensors = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v).detach().cpu().contiguous() for k, v in tensors.items()}
    text = json.dumps(payload, sort_keys=True, allow_nan=False)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "payload": text, "sha256": _digest(text, tensors)}
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
    if _digest(metadata["payload"], tensors) != metadata.get("sha256"):
        raise ModelFileError(f"{str(path)!r} was modified after it was written (checksum mismatch). Save the model again.")
    return json.loads(metadata["payload"]), tensors

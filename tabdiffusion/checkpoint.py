"""Checkpoints of a fit's training, so that a fit killed part-way resumes where its last checkpoint left it and ends
with the same model, bit for bit on one machine, as a fit that was never interrupted.

A checkpoint is one file, `checkpoint.safetensors` in the checkpoint folder, in the model file's format
(modelfile.write_model_file: safetensors tensors plus a JSON header with a SHA-256 checksum; never pickled) under its
own format name. Its tensors are the denoiser's and the EMA copy's weights (`model.*`, `ema.*`), AdamW's state
(`optimizer.<parameter>.<name>`), the states of the training's random generator (`generator`), of the global RNG
that dropout draws from (`rng.cpu`, and `rng.cuda` on a GPU), of the memorisation checks' generator
(`generators.probe`), the current epoch's shuffled order (`batches.order`) and the EMA weights of the last check that
passed (`passed.*`). The JSON holds the step, the training seconds, the place in the epoch, the loss history, the
checks so far and the fingerprint of the fit it belongs to (`fit`: the seed, the resolved ModelConfig, the device
and a SHA-256 of the encoded training arrays). Each save replaces the file in one rename (tables.atomic_write), so a
kill during a write leaves the previous checkpoint whole; a temporary file that such a kill leaves behind is
removed when the folder is next opened. One fit per folder.

What is not saved is recomputed: the steps before training (encoding, the network's initialisation) follow from the
seed, so a resumed fit repeats them and restores only the training state; so do the steps after it (reflow under
preset="flow", whose training keeps no checkpoint, and the calibration), which follow from the same seed.

What resume promises: with the same data, seed, settings and machine (threads included: CPU kernels may sum in
another order on another thread count), a fit of a fixed number of steps that is resumed ends with the same weights,
losses, check values and sampled rows, bit for bit, as one that ran through. Only timings differ (History.seconds,
each check's "seconds"). Where a `time_budget` binds, the stopping step and the learning rate's decay depend on the
clock, so no bitwise promise holds there; the budget counts the checkpoint's training seconds as spent (train starts
its clocks that many seconds back), while the time from the last checkpoint to the kill is lost and each run's own
set-up and calibration count against that run.

How fit uses it: `resume=True` with no checkpoint in the folder starts from scratch; without `resume`, a checkpoint
there is replaced (with a warning); a checkpoint of another fit (other seed, settings, data or device) is refused;
without a seed, a resumed fit takes the checkpoint's. Not with dp_epsilon: a checkpoint would hold the random state
of DP-SGD's noise.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from . import __version__
from .config import ModelConfig, check_positive_int
from .errors import ParameterError
from .modelfile import payload_digest, write_model_file
from .tables import check_writable
from .training import History, Resumed, TrainingState

FILE_NAME = "checkpoint.safetensors"
FORMAT = "tabdiffusion-checkpoint"
FORMAT_VERSION = 1
# checkpoint_every's default: steps between checkpoints (the last step is always saved).
DEFAULT_EVERY = 500


def open_checkpoints(folder: str | Path | None, every: object, resume: object, private: bool) -> Checkpointer | None:
    """The Checkpointer of fit's checkpoint arguments, checked (None without a folder): `every` a positive number of
    steps or None (DEFAULT_EVERY), `resume` a bool, and no checkpoints of a differentially private fit (`private`),
    whose checkpoint would hold the random state that draws DP-SGD's noise and the per-step losses, both outside
    the privacy guarantee."""
    if not isinstance(resume, bool):
        raise ParameterError(f"resume must be True or False, got {resume!r}.")
    if folder is None:
        if every is not None or resume:
            raise ParameterError("checkpoint_every and resume (--checkpoint-every, --resume) need checkpoint_dir "
                                 "(--checkpoint-dir), the folder of the fit's checkpoints.")
        return None
    if not isinstance(folder, (str, PathLike)) or not str(folder):
        raise ParameterError(f"checkpoint_dir (--checkpoint-dir) must be a folder path, got {folder!r}.")
    if private:
        raise ParameterError("checkpoint_dir (--checkpoint-dir) cannot be used with dp_epsilon: a checkpoint holds the "
                             "random state that draws DP-SGD's noise and the per-step losses, which the privacy "
                             "guarantee does not cover. Fit without checkpoints, or without differential privacy.")
    return Checkpointer.open(folder, None if every is None else check_positive_int("checkpoint_every", every), resume)


def fit_fingerprint(seed: int, config: ModelConfig, arrays: Sequence[np.ndarray | None], device: torch.device,
                    settings: Mapping[str, object]) -> dict:
    """What a checkpoint belongs to, as JSON: the fit's seed, its resolved config, the device type, the Synthesizer
    `settings` that change training's draws, and a SHA-256 of the encoded training `arrays` (dtype, shape, bytes)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return json.loads(json.dumps({"seed": seed, "config": asdict(config), "device": device.type,
                                  "settings": dict(settings), "data_sha256": digest.hexdigest()}))


def _differences(found: dict, wanted: dict) -> list[str]:
    """What differs between a checkpoint's fingerprint and this fit's, in words, for the refusal's message."""
    words = []
    if found.get("seed") != wanted["seed"]:
        words.append(f"its seed is {found.get('seed')}, this fit's {wanted['seed']}")
    for part, name in (("config", "model settings"), ("settings", "settings")):
        theirs, ours = found.get(part) or {}, wanted[part]
        changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        if changed:
            words.append(f"its {name} differ in {', '.join(changed)}")
    if found.get("device") != wanted["device"]:
        words.append(f"its device is {found.get('device')}, this fit's {wanted['device']}")
    if found.get("data_sha256") != wanted["data_sha256"]:
        words.append("its training data differ")
    return words


@dataclass
class Checkpointer:
    """Saves a fit's training state every `every` steps (and at its last step) to `folder`/FILE_NAME and, with
    `resume`, restores the checkpoint found there (`found`: its JSON) before training starts.

    Built in two stages, as a fit learns what it is: `open` before the seed is chosen (an unseeded fit that resumes
    takes the checkpoint's seed), `bind` once the fit's fingerprint is known, which refuses a checkpoint of another
    fit and adds the random generators outside the training loop whose state the checkpoint must carry."""

    folder: Path
    every: int
    resume: bool
    found: dict | None
    fingerprint: dict | None = None
    generators: dict[str, torch.Generator] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder / FILE_NAME

    @classmethod
    def open(cls, folder: str | Path, every: int | None, resume: bool) -> "Checkpointer":
        """A checkpointer of `folder`: checked writable now (it is made at the first save), any temporary file that
        a killed save left removed, and, with `resume`, the JSON of the checkpoint there read (None if there is none).
        Without `resume`, a checkpoint there is replaced at the first save (with a warning)."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ParameterError(f"checkpoint_dir (--checkpoint-dir) {str(folder)!r} is a file; pass a folder "
                                 "(it is made if missing).")
        check_writable(folder / FILE_NAME)
        for temporary in folder.glob(f".{FILE_NAME}.*.tmp") if folder.is_dir() else ():
            temporary.unlink(missing_ok=True)  # a save that a kill cut short; the checkpoint itself is whole
        checkpointer = cls(folder, DEFAULT_EVERY if every is None else every, resume, None)
        if checkpointer.path.exists():
            if resume:
                checkpointer.found = checkpointer._read(tensors=False)[0]
            else:
                warnings.warn(f"checkpoint_dir {str(folder)!r} holds a checkpoint; without resume=True (--resume) "
                              "this fit starts from scratch and replaces it at its first save.", UserWarning,
                              stacklevel=5)  # open, open_checkpoints, Synthesizer._fit, Synthesizer.fit, the caller
        return checkpointer

    @property
    def seed(self) -> int | None:
        """The seed of the checkpoint to resume (None if none is resumed), which an unseeded fit then uses."""
        return None if self.found is None else int(self.found["fit"]["seed"])

    def bind(self, fingerprint: dict, generators: Mapping[str, torch.Generator]) -> "Checkpointer":
        """This checkpointer for the fit of `fingerprint` (fit_fingerprint), also saving and restoring the states
        of `generators` (by name); a checkpoint to resume of another fit is a ParameterError naming what differs."""
        if self.found is not None:
            differs = _differences(self.found["fit"], fingerprint)
            if differs:
                raise ParameterError(
                    f"checkpoint_dir (--checkpoint-dir) {str(self.folder)!r} holds a checkpoint of another fit "
                    f"({'; '.join(differs)}), so resume=True (--resume) cannot continue it. Pass the folder of "
                    "this fit's checkpoints, or fit without resume to start over and replace it.")
        self.fingerprint, self.generators = fingerprint, dict(generators)
        return self

    def _read(self, tensors: bool = True) -> tuple[dict, dict[str, torch.Tensor]]:
        """The checkpoint's JSON and (with `tensors`) its tensors on the CPU, checked against the checksum."""
        try:
            with safe_open(self.path, framework="pt", device="cpu") as file:
                metadata = file.metadata() or {}
                arrays = {name: file.get_tensor(name) for name in file.keys()} if tensors else {}
            valid = (metadata.get("format") == FORMAT and metadata.get("format_version") == str(FORMAT_VERSION)
                     and (not tensors or payload_digest(metadata["payload"], arrays) == metadata.get("sha256")))
            payload = json.loads(metadata["payload"]) if valid else None
        except (SafetensorError, OSError, ValueError, KeyError):
            payload = None
        if payload is None:
            raise ParameterError(
                f"checkpoint_dir (--checkpoint-dir) {str(self.folder)!r} holds no checkpoint this tabdiffusion "
                f"({__version__}) can read in {FILE_NAME} (damaged, or another version's); delete it to start over.")
        return payload, arrays

    def restore(self, state: TrainingState) -> Resumed | None:
        """Load the checkpoint found into `state` (in place), the global RNG (forked by train for dropout) and the
        bound generators; where training resumes. None, changing nothing, where there is nothing to resume."""
        if self.found is None:
            return None
        payload, tensors = self._read()

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}

        state.model.load_state_dict(part("model."))
        state.ema.load_state_dict(part("ema."))
        # The parameter groups are this fit's own (lr, betas, weight decay: the config that the fingerprint fixes;
        # train sets each step's lr); only the per-parameter moments and step counts are restored.
        moments: dict[int, dict[str, torch.Tensor]] = {}
        for name, tensor in part("optimizer.").items():
            index, key = name.split(".", 1)
            moments.setdefault(int(index), {})[key] = tensor
        state.optimizer.load_state_dict({"state": moments,
                                         "param_groups": state.optimizer.state_dict()["param_groups"]})
        state.generator.set_state(tensors["generator"])
        for name, generator in self.generators.items():
            generator.set_state(tensors[f"generators.{name}"])
        torch.set_rng_state(tensors["rng.cpu"])
        device = next(state.model.parameters()).device
        if device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], device)
        order = tensors.get("batches.order")
        state.batches.order = None if order is None else order.to(device)
        state.batches.start = int(payload["batches_start"])
        history = payload["history"]
        state.history.loss_numeric[:] = history["loss_numeric"]
        state.history.loss_categorical[:] = history["loss_categorical"]
        state.history.checks[:] = history["checks"]
        passed = part("passed.") if payload["passed"] else None
        return Resumed(int(payload["step"]), passed, float(payload["seconds"]))

    def after_step(self, state: TrainingState, step: int, steps: int, passed: dict[str, torch.Tensor] | None,
                   seconds: float) -> None:
        """Save `state` after `step` of `steps` where it is a multiple of `every` or the last; `passed`: the EMA
        weights of the last check that passed; `seconds`: the training's seconds so far."""
        if step % self.every == 0 or step == steps:
            self.save(state, step, passed, seconds)

    def save(self, state: TrainingState, step: int, passed: dict[str, torch.Tensor] | None, seconds: float) -> Path:
        """Write the checkpoint of `state` after `step` steps, replacing the previous one in one rename."""
        if self.fingerprint is None:
            raise RuntimeError("Checkpointer.bind must run before the first save.")
        tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
        tensors.update({f"ema.{k}": v for k, v in state.ema.state_dict().items()})
        for index, moments in state.optimizer.state_dict()["state"].items():
            tensors.update({f"optimizer.{index}.{k}": v for k, v in moments.items()})
        tensors["generator"] = state.generator.get_state()
        tensors.update({f"generators.{name}": g.get_state() for name, g in self.generators.items()})
        tensors["rng.cpu"] = torch.get_rng_state()
        device = next(state.model.parameters()).device
        if device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
        if state.batches.order is not None:
            tensors["batches.order"] = state.batches.order
        if passed is not None:
            tensors.update({f"passed.{k}": v for k, v in passed.items()})
        history: History = state.history
        payload = {
            "tabdiffusion_version": __version__, "fit": self.fingerprint, "step": step, "seconds": seconds,
            "batches_start": state.batches.start, "passed": passed is not None,
            "history": {"loss_numeric": history.loss_numeric, "loss_categorical": history.loss_categorical,
                        "checks": history.checks},
        }
        return write_model_file(self.path, payload, tensors, FORMAT, FORMAT_VERSION)

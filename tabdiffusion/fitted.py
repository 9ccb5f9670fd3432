"""A fitted model: the parts a fit makes and a model file keeps, and rows drawn from them in chunks.

fitting.py makes one, modelfile.py writes and reads one, and the Synthesizer keeps its parts as its fitted
attributes (`model_`, `encoder_`, ...) and puts them back together to sample. Drawing rows here means: class labels,
model codes under conditions (generation.py), the marginal calibration, decoding to a table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import torch

from .config import ModelConfig, auto_width
from .diffusion.flow import RectifiedFlow
from .diffusion.mixed import MixedDiffusion
from .diffusion.process import Process
from .dp import PrivacySpent
from .generation import class_likelihoods, draw_labels, needs_class_pilot, sample_codes
from .hardware import thread_limit
from .nn.mlp import MLPDenoiser
from .training import History
from .transforms.calibration import MarginalCalibration
from .transforms.conditions import CodeConstraints
from .transforms.support import PairSupport
from .transforms.table import Encoded, TableEncoder


def build_networks(encoder: TableEncoder, config: ModelConfig, device: torch.device) -> tuple[Process, MLPDenoiser]:
    """The process (diffusion or flow) and the untrained denoiser that `config` describes for the encoder's layout."""
    if config.process == "flow":
        process: Process = RectifiedFlow(len(encoder.numeric_), encoder.category_sizes, device)
    else:
        process = MixedDiffusion(len(encoder.numeric_), encoder.category_sizes, config.num_timesteps, device,
                                 config.timestep_strata, config.conditioning, config.label_dropout, encoder.n_classes,
                                 config.prediction, config.known_values)
    inputs = MLPDenoiser.input_features(process.input_width, process.n_numeric, config.fourier_features)
    d_t = config.d_t or auto_width(inputs)
    model = MLPDenoiser(
        process.input_width, list(config.d_layers), encoder.n_classes, d_t, config.dropout,
        n_numeric=process.n_numeric, fourier_features=config.fourier_features, film=config.film,
        known_width=getattr(process, "known_width", 0), null_label=config.label_dropout > 0,
    )
    return process, model


@dataclass
class FittedModel:
    """What a fit makes: the resolved config, the encoder, the trained process and denoiser (the EMA copy), the loss
    histories, and what was fitted besides (calibration, pair support, privacy spent, how it was distributed or
    streamed); None where that part does not apply."""

    seed: int
    config: ModelConfig
    encoder: TableEncoder
    device: torch.device
    diffusion: Process
    model: MLPDenoiser
    history: History
    reflow_history: History | None = None
    calibration: MarginalCalibration | None = None
    support: PairSupport | None = None
    privacy: PrivacySpent | None = None
    distributed: dict | None = None  # a distributed fit's world size and backend (distributed.World.header)
    streamed: dict | None = None  # a streamed fit's row counts and pass times (streaming.py); not in the model file

    @classmethod
    def part_names(cls) -> tuple[str, ...]:
        """The parts, in order: the Synthesizer's fitted attributes are these names with a trailing underscore."""
        return tuple(field.name for field in fields(cls))

    def draw_labels(self, n: int, generator: torch.Generator, allowed: np.ndarray | None = None) -> torch.Tensor | None:
        """n class labels drawn with the training frequencies (None without a class target), among `allowed`."""
        return draw_labels(self.encoder.class_frequencies_, n, generator, self.device, allowed)

    def sample_codes(self, n: int, generator: torch.Generator, batch_size: int,
                     constraints: CodeConstraints | None = None, class_weights: np.ndarray | None = None) -> Encoded:
        """`n` rows of model codes meeting `constraints` where given (generation.sample_codes), their classes drawn
        with the training frequencies times `class_weights` where given (conditional frequencies)."""
        allowed = None if constraints is None else constraints.labels
        if class_weights is not None:
            allowed = class_weights if allowed is None else allowed * class_weights
        labels = self.draw_labels(n, generator, allowed)
        return sample_codes(self.diffusion, self.model, self.config, labels, n, generator, self.device, batch_size,
                            constraints, self.calibration)

    def class_weights(self, n: int, generator: torch.Generator, batch_size: int,
                      constraints: CodeConstraints | None) -> np.ndarray | None:
        """P(conditions | class) up to a constant (generation.class_likelihoods), once for all `n` rows, where one set
        of conditions leaves the class free; None where the class is drawn with the training frequencies."""
        if not needs_class_pilot(constraints, self.encoder.n_classes):
            return None
        return class_likelihoods(self.diffusion, self.model, self.config, constraints, self.encoder.n_classes,
                                 self.encoder.category_sizes, n, generator, self.device, batch_size)

    def chunks(self, n: int, chunk_rows: int, rng: np.random.Generator, generator: torch.Generator, batch_size: int,
               threads: int | None, constraints: CodeConstraints | None = None,
               class_weights: np.ndarray | None = None, first_row: int = 0) -> Iterator[pd.DataFrame]:
        """`n` rows as tables of at most `chunk_rows` rows, each sampled, calibrated and decoded when asked for, with
        at most `threads` threads; row i meets row i of `constraints` where they are per row; `class_weights` (1,
        n_classes) multiply the class frequencies of every chunk; `first_row` counts the rows generated before these,
        so that generated keys stay unique."""
        for start in range(0, n, chunk_rows):
            rows = min(chunk_rows, n - start)
            part = None if constraints is None else constraints.rows(start, start + rows)
            with thread_limit(threads):  # per chunk: the caller's code between chunks keeps its own threads
                encoded = self.sample_codes(rows, generator, batch_size, part, class_weights)
                if self.calibration is not None:
                    encoded = replace(encoded, x_num=self.calibration.apply(encoded.x_num).astype(np.float32))
                chunk = self.encoder.decode(encoded, rng, first_row + start, adjust=None if part is None else part.fix)
            yield chunk

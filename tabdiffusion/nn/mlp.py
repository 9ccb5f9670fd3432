"""TabDDPM's MLP denoiser (input projection plus timestep and label embeddings, then an MLP back to input width),
with optional periodic numeric features and per-layer timestep modulation."""

from __future__ import annotations

import math

import torch
from torch import nn

# Inference with FiLM groups the rows by (t, y) pair when a batch has at least this many rows per pair on average
# (sampling: one pair per class); training batches, one pair per row, keep the gathered path.
GROUPED_MIN_ROWS = 64


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017; as in DDPM); (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1) if dim % 2 else embedding


class PeriodicEmbedding(nn.Module):
    """cos and sin of 2 pi w x for `n_frequencies` learned frequencies w per numeric column; (B, n) -> (B, 2 n F).

    Periodic features let an MLP resolve fine joint structure in a few numeric columns (coordinates, codes held as
    numbers) that plain linear inputs blur (Gorishniy et al. 2022, "On Embeddings for Numerical Features").
    """

    def __init__(self, n_columns: int, n_frequencies: int, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale  # the frequencies' initial standard deviation, in units of the quantile-normal data
        self.frequencies = nn.Parameter(torch.zeros(n_columns, n_frequencies))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * x.unsqueeze(-1) * self.frequencies
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).flatten(1)


class MLPDenoiser(nn.Module):
    """x -> Linear(d_in [+ periodic(x_num)], d_t) + emb(t) [+ SiLU(emb(y))] -> MLP(d_layers, ReLU, dropout) -> Linear(d_in).

    With fourier_features = 0 and film = False this is TabDDPM's denoiser. fourier_features > 0 adds periodic
    features of the first n_numeric inputs; film modulates every hidden layer by the timestep (and label) embedding
    (scale and shift, Perez et al. 2018) instead of adding it to the input only.
    """

    def __init__(
        self, d_in: int, d_layers: list[int], n_classes: int = 0, d_t: int = 128, dropout: float = 0.0, *,
        n_numeric: int = 0, fourier_features: int = 0, film: bool = False, known_width: int = 0,
        null_label: bool = False,
    ) -> None:
        super().__init__()
        self.d_t, self.n_numeric, self.known_width = d_t, n_numeric, known_width
        self.periodic = PeriodicEmbedding(n_numeric, fourier_features) if fourier_features and n_numeric else None
        self.input_projection = nn.Linear(self.input_features(d_in + known_width, n_numeric, fourier_features), d_t)
        self.time_embedding = nn.Sequential(nn.Linear(d_t, d_t), nn.SiLU(), nn.Linear(d_t, d_t))
        # null_label: one more embedding, index n_classes, for a hidden label (classifier-free guidance)
        self.label_embedding = nn.Embedding(n_classes + null_label, d_t) if n_classes > 0 else None
        blocks: list[nn.Module] = []
        width = d_t
        for d_hidden in d_layers:
            blocks += [nn.Linear(width, d_hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = d_hidden
        self.mlp = nn.Sequential(*blocks)  # one flat Sequential: the parameter names (mlp.0.weight, ...) of model files
        self.modulations = nn.ModuleList([nn.Linear(d_t, 2 * d) for d in d_layers]) if film else None
        self.head = nn.Linear(width, d_in)
        self.per_row_embedding = False  # set by DP-SGD training (training.py): no embedding shared between rows

    @staticmethod
    def input_features(d_in: int, n_numeric: int, fourier_features: int) -> int:
        """Width of what the input projection reads: the d_in inputs plus cos and sin features of the numerics."""
        return d_in + 2 * fourier_features * n_numeric

    def _embedding(self, t: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (t, y) embedding once per distinct pair in the batch (D, d_t), and each row's index into it (B,).

        A batch holds few distinct pairs (one per class when sampling), so the embedding and the per-layer
        modulations are computed for those only and gathered.
        """
        n_classes = self.label_embedding.num_embeddings if self.label_embedding is not None and y is not None else 0
        keys = t * n_classes + y if n_classes else t
        if self.per_row_embedding:  # one embedding per row: per-row gradients (DP-SGD) need rows kept apart
            distinct, rows = keys, torch.arange(len(keys), device=keys.device)
        else:
            distinct, rows = torch.unique(keys, return_inverse=True)
        emb = self.time_embedding(timestep_embedding(distinct // n_classes if n_classes else distinct, self.d_t))
        if n_classes:
            emb = emb + nn.functional.silu(self.label_embedding(distinct % n_classes))
        return emb, rows

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d_in + known_width), (B,), (B,) or None -> (B, d_in); the last known_width inputs, where the model has
        them, flag the columns whose clean values the input holds (MixedDiffusion's conditioning)."""
        emb, rows = self._embedding(t, y)
        if self.periodic is not None:
            x = torch.cat([x, self.periodic(x[:, : self.n_numeric])], dim=1)
        if self.modulations is not None and not self.training and not torch.is_grad_enabled() and len(x) >= GROUPED_MIN_ROWS * len(emb):
            return self._modulated_by_group(x, emb, rows)
        # index_select, not emb[rows]: the same gather, but its backward (index_add) is far cheaper on CPU than
        # advanced indexing's (index_put with accumulate) (experiments.md, "Gathers in the denoiser's backward pass").
        h = self.input_projection(x) + emb.index_select(0, rows)
        if self.modulations is None:
            return self.head(self.mlp(h))
        condition = nn.functional.silu(emb)
        for i, modulation in enumerate(self.modulations):
            h = self.mlp[3 * i + 2](self.mlp[3 * i + 1](self.mlp[3 * i](h)))  # Linear, ReLU, Dropout
            scale, shift = modulation(condition).chunk(2, dim=-1)
            # h * (1 + scale) + shift, not addcmul: addcmul's backward multiplies by its scalar value too, two more
            # (B, width) products per layer (experiments.md, "Stratified timesteps").
            h = h * (1 + scale).index_select(0, rows) + shift.index_select(0, rows)
        return self.head(h)

    def _modulated_by_group(self, x: torch.Tensor, emb: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The FiLM forward pass for inference, with the rows of each (t, y) pair made contiguous: every layer's
        embedding, scale and shift then apply in place to a slice, instead of being gathered into (B, width) copies.

        Sampling holds one pair per class, so this is the sampler's path. Same function as `forward`'s other path
        (up to float rounding), and faster on sampling batches (experiments.md, "Grouped FiLM at inference").
        """
        order = torch.argsort(rows, stable=True)
        counts = torch.bincount(rows, minlength=len(emb)).tolist()
        h = self.input_projection(x.index_select(0, order))
        for k, part in enumerate(h.split(counts)):
            part.add_(emb[k])
        condition = nn.functional.silu(emb)
        for i, modulation in enumerate(self.modulations):
            h = torch.relu_(self.mlp[3 * i](h))  # Linear, ReLU; Dropout is the identity outside training
            scale, shift = modulation(condition).chunk(2, dim=-1)
            for k, part in enumerate(h.split(counts)):
                part.mul_(1 + scale[k]).add_(shift[k])
        out = self.head(h)
        return torch.empty_like(out).index_copy_(0, order, out)  # back in the caller's row order


@torch.no_grad()
def reset_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default init (uniform +-1/sqrt(fan_in); N(0,1) embeddings) drawn from `generator`, not the global RNG."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(layer, nn.Embedding):
            layer.weight.normal_(generator=generator)
        elif isinstance(layer, PeriodicEmbedding):
            layer.frequencies.normal_(0.0, layer.scale, generator=generator)

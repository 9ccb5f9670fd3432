"""TabDDPM's MLP denoiser: input projection plus timestep (and label) embeddings, then an MLP back to input width."""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017; as in DDPM); (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1) if dim % 2 else embedding


class MLPDenoiser(nn.Module):
    """x -> Linear(d_in, d_t) + emb(t) [+ SiLU(emb(y))] -> MLP(d_layers, ReLU, dropout) -> Linear(d_in)."""

    def __init__(self, d_in: int, d_layers: list[int], n_classes: int = 0, d_t: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_t = d_t
        self.input_projection = nn.Linear(d_in, d_t)
        self.time_embedding = nn.Sequential(nn.Linear(d_t, d_t), nn.SiLU(), nn.Linear(d_t, d_t))
        self.label_embedding = nn.Embedding(n_classes, d_t) if n_classes > 0 else None
        blocks: list[nn.Module] = []
        width = d_t
        for d_hidden in d_layers:
            blocks += [nn.Linear(width, d_hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = d_hidden
        self.mlp = nn.Sequential(*blocks)
        self.head = nn.Linear(width, d_in)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, d_in), (B,), (B,) or None -> (B, d_in)."""
        emb = self.time_embedding(timestep_embedding(t, self.d_t))
        if self.label_embedding is not None and y is not None:
            emb = emb + nn.functional.silu(self.label_embedding(y))
        return self.head(self.mlp(self.input_projection(x) + emb))


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

"""tabdiffusion: synthetic tabular data with diffusion models."""

__version__ = "0.1.0"

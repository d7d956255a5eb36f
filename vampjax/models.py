"""Which model a config describes: the one-level VAE or the two-level HVAE."""

from __future__ import annotations

import ml_collections
from jax.sharding import Mesh

from vampjax.hvae import build_hvae
from vampjax.vae import VAE, build_vae

TWO_LEVEL = ("hvae_mlp", "hvae_conv")


def build_model(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> VAE:
  """The model of `config.architecture`; with a mesh of several devices, its work is split
  over them. Every model returns `Terms` and offers the VAE's methods."""
  build = build_hvae if config.architecture in TWO_LEVEL else build_vae
  return build(config, mesh)


def noise_dim(config: ml_collections.ConfigDict) -> int:
  """Size of the noise that draws one posterior sample: D, or D2 + D1 with two levels."""
  return config.latent_dim * (2 if config.architecture in TWO_LEVEL else 1)

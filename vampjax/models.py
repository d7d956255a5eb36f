"""Which model a config describes: the one-level VAE or the two-level HVAE.

This is the one place that reads a model's kind from a config; everything else asks the
built model (`VAE.prior_kind`, `kl_is_analytic`, `prior_is_learned`, `noise_shape`,
`latent_levels`). A new model is a module with the VAE's methods and an entry here.
"""

from __future__ import annotations

from typing import Callable

import ml_collections
from jax.sharding import Mesh

from vampjax.hvae import build_hvae
from vampjax.vae import VAE, build_vae

# config.architecture -> the builder of its model, (config, mesh) -> model.
BUILDERS: dict[str, Callable[[ml_collections.ConfigDict, Mesh | None], VAE]] = {
    "conv": build_vae, "resnet": build_vae, "gated_mlp": build_vae,
    "hvae_mlp": build_hvae, "hvae_conv": build_hvae,
}


def build_model(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> VAE:
  """The model of `config.architecture`; with a mesh of several devices, its work is split
  over them. Every model returns `Terms` and offers the VAE's methods."""
  return BUILDERS[config.architecture](config, mesh)

"""The paper's one-level VAE with its MoG prior baseline: K = 500 Gaussians in latent space
whose means and log-variances are free parameters (weights 1/K)."""

from configs.paper import base


def get_config():
  config = base.get_config()
  config.prior = "mog"
  return config

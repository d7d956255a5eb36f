"""Table 2, VampPrior (K = 1000), conv nets."""

from configs import celeba


def get_config():
  return celeba.get_config()

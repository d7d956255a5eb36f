"""Tables 2 and 3, VampPrior + linear KL annealing, conv nets."""

from configs import celeba


def get_config():
  config = celeba.get_config()
  config.kl_warmup_steps = 10000
  return config

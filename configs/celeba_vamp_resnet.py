"""Table 3, VampPrior + KL annealing with the residual nets ("enhanced")."""

from configs import celeba_vamp_conv_anneal


def get_config():
  config = celeba_vamp_conv_anneal.get_config()
  config.architecture = "resnet"
  return config

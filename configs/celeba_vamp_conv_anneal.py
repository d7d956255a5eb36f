"""Tables 2 and 3, VampPrior + linear KL annealing, conv nets.

The study warms β up over 10 000 steps of full CelebA (162 770 train images, batch 64):
3.93 of its 30 epochs, stated in epochs so that the warm-up is the same share of training
on the 899-image sample (55 of 420 steps) as on full CelebA.
"""

from configs import celeba

FULL_CELEBA_STEPS_PER_EPOCH = 162770 // 64


def get_config():
  config = celeba.get_config()
  config.kl_warmup_epochs = 10000 / FULL_CELEBA_STEPS_PER_EPOCH
  return config

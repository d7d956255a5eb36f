"""The paper's two-level HVAE (gated dense layers, 40 + 40 latent units), prior N(0, I) on z2.

The protocol keys below restate the paper's recipe (dynamically binarized 28×28 MNIST,
Bernoulli decoder, batch 100, lr 5e-4, K = 500, β warm-up over 100 epochs of 500 steps).
"""

from configs import default

STEPS_PER_EPOCH = 500  # 50 000 training images / batch 100


def get_config():
  config = default.get_config()
  config.data.name = "mnist_binary"
  config.data.image_size = 28
  config.data.dynamic_binarization = True
  config.architecture = "hvae_mlp"
  config.prior = "standard"
  config.latent_dim = 40            # both levels, z1 and z2
  config.num_components = 500
  config.pseudo_init = "random"
  config.likelihood = "bernoulli"
  config.learning_rate = 5e-4
  config.batch_size = 100
  config.kl_warmup_steps = 100 * STEPS_PER_EPOCH
  config.num_train_steps = 2000 * STEPS_PER_EPOCH
  return config

"""The CelebA 64×64 setting every Table 2/3 row shares: latent 256, K = 1000, Adam 1e-4,
30 epochs (the study's length, counted in epochs so that it means the same on any data).

By default it trains on `celeba_sample`, the 999-image CelebA sample (899 train images:
30 epochs are 420 steps); `--config.data.name=celeba` trains on full CelebA (162 770 train
images: 76 290 steps), `data.name=image_folder` with `data.path` on a folder of images.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.name = "celeba_sample"
  config.data.image_size = 64
  config.data.channels = 3
  config.latent_dim = 256
  config.num_components = 1000
  config.pseudo_init = "random"
  config.pseudo_init_mean = 0.45     # natural images: mid-grey pseudo-inputs
  config.pseudo_init_std = 0.05
  config.learning_rate = 1e-4
  config.batch_size = 64
  config.num_train_steps = -1
  config.num_train_epochs = 30
  return config

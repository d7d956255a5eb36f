"""The VampPrior paper's recipe for dynamically binarized MNIST (the original code's defaults,
jmtomczak/vae_vampprior experiment.py), shared by every configs/paper model.

Where we differ from the original code:
- Optimiser: plain Adam (optax). The original's AdamNormGrad divides each parameter's
  gradient by its L2 norm (+1e-7) before the Adam update: `--config.optimizer=adam_normgrad`
  (the paper table's extra row `vamp_normgrad` measures whether it matters).
- Encoder log σ²: bounded smoothly to (−6, 2) by a shifted sigmoid; the original clips it
  with a hardtanh(−6, 2), whose gradient is zero outside the range.
- Pseudo-inputs: every VampPrior config here (one and two levels) stores the pixels, as the
  original does, but clips them to [0, 1] with a straight-through gradient where the
  original's hardtanh has none outside. vampjax's default, logits mapped to (0, 1) by a
  sigmoid, lost to them at the cpu budget (one level, three seeds); the paper table's extra
  rows `vamp_logits` and `hvae_vamp_logits` keep it (`--config.pseudo_param=logits`).
- Decoder: pixel logits and an exact Bernoulli log-likelihood; the original applies a
  sigmoid and clamps the probabilities to [1e-5, 1 − 1e-5] in log p(x|z).
- KL warm-up: β grows every step, β = step / (100 epochs of steps); the original sets
  β = epoch / 100 once per epoch (from epoch 1), so ours lags by up to one epoch.
- Early stopping is the original's rule (see vampjax/early_stopping.py); the test set is
  scored with the best validation checkpoint, as in the original.
"""

from configs import default

TRAIN_IMAGES = 50_000  # mnist_binary's training split (the validation split is the other 10k)
MAX_EPOCHS = 2000


def get_config():
  config = default.get_config()
  config.data.name = "mnist_binary"
  config.data.image_size = 28
  config.data.dynamic_binarization = True

  config.architecture = "gated_mlp"
  config.mlp_hidden = (300, 300)
  config.latent_dim = 40
  config.likelihood = "bernoulli"
  config.decoder_bias_init = "zero"  # the original initialises every bias as PyTorch does
  config.num_components = 500
  config.pseudo_init = "random"     # the original's default; "data" uses K training images
  config.pseudo_init_mean = 0.05
  config.pseudo_init_std = 0.01

  config.learning_rate = 5e-4
  config.batch_size = 100
  config.kl_warmup_epochs = 100
  config.early_stopping.patience_epochs = 50
  steps_per_epoch = TRAIN_IMAGES // config.batch_size
  config.num_train_steps = MAX_EPOCHS * steps_per_epoch  # an upper bound: early stopping ends it
  config.log_every_steps = 100
  config.checkpoint_every_steps = steps_per_epoch
  config.eval_every_steps = 50 * steps_per_epoch  # the test split, for the curves only

  config.eval.is_samples = 5000     # test NLL: S = 5000 over all 10k test images
  config.eval.is_chunk = 10         # faster than 50 for these MLPs (docs/performance.md)
  config.eval.num_examples = -1
  config.eval.lpips_backbones = ()  # the paper reports NLL; LPIPS does not apply to 28×28 binary
  return config

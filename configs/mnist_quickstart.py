"""Quick start: a VampPrior VAE on MNIST whose first run is worth looking at.

About three minutes on 2 CPU cores when the machine is free. Not the study's literal
objective (configs/mnist_vamp.py and mnist_vae.py keep ½Σ(x−x̂)², i.e. a Gaussian of
σ = 1 without its constant, at β = 1): the same Gaussian likelihood, complete and with one
learned σ starting at 0.1. At σ = 1 and β = 1 the information in z is not worth its KL at
short budgets and the posterior collapses; at σ ≈ 0.1 the model learns a code within a
few hundred steps (experiments/results/cpu/likelihood_ab.md: the study's objective at
β = 0.01 = σ², with the decoder's output bias started at the mean image).

Its --mode=eval takes a minute or two, not the defaults' tens of minutes: 1000 test images,
S = 500 importance samples, LPIPS on AlexNet only (78 s on the loaded 2-core CPU of
docs/evaluation.md, where LPIPS-VGG took 18.9 s per 100 images and S = 5000 ten times S = 500).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.likelihood = "gaussian"
  config.likelihood_scale_mode = "learned_global"
  config.likelihood_scale = 0.1
  config.num_train_steps = 1000
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 500
  config.num_eval_examples = 2000
  config.eval.num_examples = 1000
  config.eval.is_samples = 500
  config.eval.lpips_backbones = ("alex",)
  return config

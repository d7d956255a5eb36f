"""Negative losses are explained where they are shown: the eval table gets one line saying
why, the loss figure's third panel is titled plainly when it cannot show a share."""

from vampjax import figures
from vampjax.metrics import evaluate

RESULTS = {"num_examples": 10, "active_units": 3, "latent_dim": 4, "au_threshold": 0.01,
           "lpips_alex": 0.2, "mse": 0.01, "psnr": 20.0, "ssim": 0.5, "loss": 12.5,
           "reconstruction": 10.0, "kl": 2.5, "neg_elbo_nats": 12.5}
NOTE = ("(a continuous likelihood's −log p(x) can be negative: a density, not a "
        "probability)")


def test_eval_table_explains_negative_numbers_in_one_line():
  negative = {**RESULTS, "loss": -512.25, "reconstruction": -520.0, "kl": 7.75,
              "neg_elbo_nats": -400.0}
  lines = evaluate.format_table(negative).splitlines()
  assert lines[-1] == NOTE and "-512.250" in lines[-5]
  assert NOTE not in evaluate.format_table(RESULTS)


def test_kl_panel_is_titled_plainly_when_a_loss_is_not_positive():
  by_split = {"train": [{"loss": 3.0}, {"loss": -1.0}]}
  assert figures.share_panel(by_split) == ("KL", "kl")
  assert figures.share_panel({"train": [{"loss": 3.0}]}) == ("KL share β·KL / loss", "kl_share")

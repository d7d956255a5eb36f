"""vampjax: variational autoencoders with a VampPrior, in JAX/Flax.

`vampjax.load_run(workdir)` restores a trained run for use from Python (vampjax.api);
`vampjax.VampPrior`, `StandardPrior`, `MoGPrior`, `kl_estimate`, `prior_log_prob` and
`prior_sample` put vampjax's priors on your own Flax networks (vampjax.prior_api). They are
imported on first use, so that `import vampjax` stays light (main.py imports vampjax.xla_cpu
before JAX may start).
"""

import importlib

_PUBLIC = {"load_run": "vampjax.api",
           **{name: "vampjax.prior_api" for name in (
               "VampPrior", "StandardPrior", "MoGPrior", "kl_estimate", "prior_log_prob",
               "prior_sample")}}


def __getattr__(name: str):
  if name in _PUBLIC:
    return getattr(importlib.import_module(_PUBLIC[name]), name)
  raise AttributeError(f"module 'vampjax' has no attribute {name!r}")

"""vampjax: variational autoencoders with a VampPrior, in JAX/Flax.

`vampjax.load_run(workdir)` restores a trained run for use from Python (vampjax.api). It
is imported on first use, so that `import vampjax` stays light (main.py imports
vampjax.xla_cpu before JAX may start).
"""


def __getattr__(name: str):
  if name == "load_run":
    from vampjax.api import load_run  # pylint: disable=import-outside-toplevel
    return load_run
  raise AttributeError(f"module 'vampjax' has no attribute {name!r}")

"""vampjax: variational autoencoders with a VampPrior, in JAX/Flax."""

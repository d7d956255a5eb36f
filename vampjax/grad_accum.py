"""Gradient accumulation: a batch's gradient summed over micro-batches, in a scan."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from vampjax import code_paths, priors

Metrics = dict[str, jax.Array]


def micro_batches(tree: Any, num: int, axis: int = 0) -> Any:
  """Splits `axis` of every leaf into `num` strided micro-batches, stacked on a new axis 0.

  Strided (row r goes to micro-batch r mod num) so that each micro-batch takes an equal
  share of every device's rows when the batch is split over devices.
  """

  def split(x):
    x = jnp.moveaxis(x, axis, 0)
    x = x.reshape(x.shape[0] // num, num, *x.shape[1:]).swapaxes(0, 1)
    return jnp.moveaxis(x, 1, axis + 1)

  return jax.tree.map(split, tree)


def accumulated_grad(loss_fn: Callable, params: Any, batch: jax.Array, noise: jax.Array,
                     num_micro_batches: int,
                     prior_fn: Callable[[Any], priors.Mixture] | None = None
                     ) -> tuple[Any, Metrics]:
  """Gradient of the mean loss over the batch, computed over micro-batches in a scan.

  loss_fn(params, x, noise, prior) -> (mean loss, terms); prior None: the model's own.
  With equal micro-batches the mean of their mean-loss gradients is the whole batch's
  gradient: only memory changes, not the result. With `prior_fn` (params -> the
  VampPrior's components), the pseudo-inputs are encoded once per step rather than once
  per micro-batch: the micro-batches' gradients with respect to the components are
  summed and sent back through that one encoding (the chain rule; the same gradient).

  On XLA:CPU the scan is unrolled: inside a loop its conv kernel gradients run far slower
  (docs/scaling.md, gradient accumulation), at the cost of some of the memory saved
  (`code_paths`: VAMPJAX_CODE_PATHS forces either choice).
  """
  grad_fn = jax.grad(loss_fn, has_aux=True)
  if num_micro_batches == 1:
    return grad_fn(params, batch, noise, None)

  if prior_fn is None:
    components, prior_vjp, as_prior = (), None, lambda c: None
  else:
    def components_and_mask(p):
      mixture = prior_fn(p)
      return (mixture.mu, mixture.logvar), mixture.mask

    components, prior_vjp, mask = jax.vjp(components_and_mask, params, has_aux=True)
    as_prior = lambda c: priors.Mixture(*c, mask)
  # d/d(params, components) of one micro-batch's loss; () components: no second gradient.
  micro_grad = jax.grad(lambda p, c, x, eps: loss_fn(p, x, eps, as_prior(c)),
                        argnums=(0, 1), has_aux=True)

  def body(carry, micro):
    grads, terms = micro_grad(params, components, *micro)
    return jax.tree.map(jnp.add, carry, grads), terms

  zeros = jax.tree.map(jnp.zeros_like, (params, components))
  micro = (micro_batches(batch, num_micro_batches), micro_batches(noise, num_micro_batches, 1))
  (grads, component_grads), terms = jax.lax.scan(body, zeros, micro,
                                                 unroll=code_paths.cpu_paths())
  if prior_vjp is not None:
    grads = jax.tree.map(jnp.add, grads, prior_vjp(component_grads)[0])
  grads = jax.tree.map(lambda g: g / num_micro_batches, grads)
  return grads, jax.tree.map(lambda t: t.reshape(-1), terms)

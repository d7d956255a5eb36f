"""The VAE module: encode → sample z → decode, with a standard-normal, MoG or VampPrior prior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vampjax import gated, likelihoods, priors
from vampjax.distributions import gaussian_log_prob, kl_to_standard_normal
from vampjax.networks import Decoder, Encoder
from vampjax.sharding import DATA_AXIS
from vampjax.terms import Terms


class VAE(nn.Module):
  """A VAE whose prior is N(0, I) (num_components = 0), or a mixture of K components: the
  VampPrior (`prior` "vamp") or a mixture of K free Gaussians (`prior` "mog").

  With a `mesh`, the batch and the pseudo-inputs are split over its `data` axis: each
  device encodes B/n images and ⌈K/n⌉ pseudo-inputs (K padded with masked components),
  and only the (μ_k, log σ²_k) are gathered, so the prior's cost per device falls as 1/n.
  """

  image_shape: tuple[int, int, int]
  latent_dim: int
  num_components: int = 0
  prior: str = "vamp"                # with num_components > 0: vamp | mog; else N(0, I)
  architecture: str = "conv"  # conv | resnet | gated_mlp
  mlp_hidden: tuple[int, ...] = (300, 300)
  logvar_bounds: tuple[float, float] = (-6.0, 2.0)
  pseudo_init_mean: float = 0.05
  pseudo_init_std: float = 0.01
  pseudo_param: str = "logits"       # how the pseudo-inputs are stored: logits | pixels
  train_pseudo_inputs: bool = True
  likelihood: str = "bernoulli"
  scale_mode: str = "fixed"          # the likelihood's σ: fixed | learned_global | learned_pixel
  scale: float = 1.0
  scale_bounds: tuple[float, float] = (0.01, 1.0)
  dtype: jnp.dtype = jnp.float32
  mesh: Mesh | None = None

  def setup(self):
    if self.architecture == "gated_mlp":
      self.encoder = gated.MLPEncoder(self.latent_dim, self.mlp_hidden, self.logvar_bounds,
                                      dtype=self.dtype)
      self.decoder = gated.MLPDecoder(self.image_shape, self.mlp_hidden, dtype=self.dtype)
    else:
      residual = self.architecture == "resnet"
      self.encoder = Encoder(self.latent_dim, residual, self.logvar_bounds, dtype=self.dtype)
      self.decoder = Decoder(self.image_shape, residual, dtype=self.dtype)
    self._setup_prior_and_scale()

  def _setup_prior_and_scale(self):
    """The prior's parameters (pseudo-inputs or MoG components) and the likelihood's σ,
    shared by every model."""
    self.pixel_scale = likelihoods.PixelScale(self.scale_mode, self.image_shape, self.scale,
                                              *self.scale_bounds)
    if self.is_vamp:
      self.vamp_prior = priors.VampPrior(self.num_components, self.image_shape,
                                         self.pseudo_init_mean, self.pseudo_init_std,
                                         self.pseudo_param, self.train_pseudo_inputs)
    elif self.num_components:
      self.mog_prior = priors.GaussianMixture(self.num_components, self.latent_dim,
                                              self.logvar_bounds)

  @property
  def prior_kind(self) -> str:
    """The prior on the top latent: standard (N(0, I)), vamp (the VampPrior) or mog (K free
    Gaussians)."""
    return self.prior if self.num_components > 0 else "standard"

  @property
  def is_vamp(self) -> bool:
    return self.prior_kind == "vamp"

  @property
  def prior_is_learned(self) -> bool:
    """Whether the prior's components depend on the parameters (worth computing once per
    step, not once per micro-batch)."""
    return self.prior_kind != "standard"

  @property
  def kl_is_analytic(self) -> bool:
    """Whether the forward pass gives KL(q(z|x) ‖ p(z)) in closed form (N(0, I) on one
    level), so one posterior sample per example suffices."""
    return self.prior_kind == "standard"

  def noise_shape(self, batch_size: int, kl_samples: int) -> tuple[int, int, int]:
    """Shape (L, N, noise_dim) of the standard-normal noise behind a batch's posterior
    samples: L = kl_samples for the Monte-Carlo KL, 1 where the KL is analytic."""
    return (1 if self.kl_is_analytic else kl_samples, batch_size, self.noise_dim)

  @property
  def latent_levels(self) -> tuple[str, ...]:
    """The names of the latent levels, the one the prior is on first."""
    return ("z",)

  @property
  def noise_dim(self) -> int:
    """Size of the last axis of the noise that draws one posterior sample."""
    return self.latent_dim

  @property
  def num_shards(self) -> int:
    return 1 if self.mesh is None else self.mesh.shape[DATA_AXIS]

  def _constrain(self, x: jax.Array, split: bool) -> jax.Array:
    """Pins x's leading axis split over `data` (or x replicated), when there is a mesh."""
    if self.mesh is None:
      return x
    spec = PartitionSpec(DATA_AXIS) if split else PartitionSpec()
    return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

  def pseudo_inputs(self) -> jax.Array:
    """The VampPrior's pseudo-inputs u_k, (K, H, W, C) in (0, 1)."""
    return self.vamp_prior()

  def _padded_pseudo_inputs(self) -> tuple[jax.Array, jax.Array | None]:
    """u padded to a multiple of the shard count, and the mask of the real ones (None when
    no padding was needed)."""
    k = self.num_components
    padded = -(-k // self.num_shards) * self.num_shards
    u = jnp.pad(self.pseudo_inputs(), ((0, padded - k), (0, 0), (0, 0), (0, 0)))
    return u, (jnp.arange(padded) < k) if padded > k else None

  def _mixture(self, mu_k: jax.Array, logvar_k: jax.Array,
               mask: jax.Array | None) -> priors.Mixture:
    mu_k, logvar_k = self._constrain(mu_k, False), self._constrain(logvar_k, False)  # gather
    return priors.Mixture(mu_k, logvar_k, mask)

  def prior_components(self) -> priors.Mixture:
    """The prior now: the pseudo-inputs encoded (sharded over devices), the MoG's
    components (parameters, replicated like every other), or N(0, I)."""
    if not self.num_components:
      return priors.standard_normal(self.latent_dim)
    if not self.is_vamp:
      return self.mog_prior()
    u, mask = self._padded_pseudo_inputs()
    return self._mixture(*self.encoder(self._constrain(u, True)), mask)

  def _encode_with_prior(self, x: jax.Array) -> tuple[jax.Array, jax.Array, priors.Mixture]:
    """Encodes the batch and the pseudo-inputs in one call: one big convolution instead of
    two. Rows are interleaved so that device i holds its B/n images and its K/n pseudo-inputs
    and no image moves between devices."""
    n, b, image = self.num_shards, x.shape[0], x.shape[1:]
    u, mask = self._padded_pseudo_inputs()
    joint = jnp.concatenate([x.reshape(n, b // n, *image), u.reshape(n, -1, *image)], axis=1)
    mu, logvar = self.encoder(self._constrain(joint.reshape(-1, *image), True))
    split = lambda a: (a.reshape(n, -1, a.shape[-1])[:, :b // n].reshape(b, -1),
                       a.reshape(n, -1, a.shape[-1])[:, b // n:].reshape(-1, a.shape[-1]))
    (mu, mu_k), (logvar, logvar_k) = split(mu), split(logvar)
    return mu, logvar, self._mixture(mu_k, logvar_k, mask)

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """q(z|x) of the latent the prior is on: (μ, log σ²), each (N, latent_dim)."""
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    """Pixel logits (N, H, W, C) of latents z (N, latent_dim)."""
    return self.decoder(z)

  def pixel_means(self, *latents: jax.Array) -> jax.Array:
    """The decoder's pixel means in [0, 1] (sigmoid of its logits) of `decode`'s latents."""
    return jax.nn.sigmoid(self.decode(*latents))

  def log_scale(self) -> jax.Array:
    """log σ of the likelihood (fixed or learned), () or (H, W, C)."""
    return self.pixel_scale()

  def __call__(self, x: jax.Array, noise: jax.Array,
               prior: priors.Mixture | None = None) -> Terms:
    """`Terms` of a batch x (N, H, W, C) for L posterior samples drawn with standard-normal
    noise (L, N, D); every sample is decoded.

    The noise is an input (not drawn here) so that a batch split into micro-batches sees
    exactly the samples the whole batch would. Without a precomputed `prior`, a VampPrior's
    pseudo-inputs are encoded together with the batch. With N(0, I) the closed-form KL
    comes along.
    """
    if prior is None and self.is_vamp:
      mu, logvar, prior = self._encode_with_prior(x)
    else:
      mu, logvar = self.encoder(x)
      prior = prior if prior is not None else self.prior_components()
    z = mu + jnp.exp(0.5 * logvar) * noise
    logits = self.decoder(z.reshape(-1, self.latent_dim)).reshape(*z.shape[:2], *x.shape[1:])
    log_pz = priors.mixture_log_prob(z, prior)
    return Terms(log_px_z=likelihoods.log_prob(x, logits, self.log_scale(), self.likelihood),
                 log_qz_x=gaussian_log_prob(z, mu, logvar), log_pz=log_pz,
                 kl=kl_to_standard_normal(mu, logvar) if self.kl_is_analytic else None)

  def posteriors(self, x: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """q(z|x) as (μ, log σ²), each (N, D), by latent level."""
    return {"z": self.encoder(x)}

  def posterior_means(self, x: jax.Array) -> dict[str, jax.Array]:
    """E_q[z|x] (N, D) by latent level: what the active units are counted on."""
    return {level: mu for level, (mu, _) in self.posteriors(x).items()}

  def reconstruct(self, x: jax.Array) -> jax.Array:
    """Pixel means (N, H, W, C) in [0, 1] decoded from the posterior means."""
    return self.pixel_means(self.encoder(x)[0])

  def sample(self, rng: jax.Array, n: int) -> jax.Array:
    """n images decoded from prior samples, as pixel means in [0, 1]."""
    prior = self.prior_components()
    k = max(self.num_components, 1)  # the real components come first, padding after
    return self.pixel_means(priors.sample(rng, prior.mu[:k], prior.logvar[:k], n))


def pseudo_input_images(model: nn.Module, params: dict) -> jax.Array:
  """A VampPrior model's K pseudo-inputs u_k, (K, H, W, C) in [0, 1], from its parameters."""
  return jax.jit(lambda p: model.apply({"params": p}, method="pseudo_inputs"))(params)


def model_fields(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> dict:
  """The fields every model (one or two latent levels) takes from a config; with a mesh of
  several devices, the model's work is split over them."""
  return dict(
      image_shape=(config.data.image_size, config.data.image_size, config.data.channels),
      latent_dim=config.latent_dim,
      num_components=0 if config.prior == "standard" else config.num_components,
      prior=config.prior,
      architecture=config.architecture,
      logvar_bounds=(config.logvar_min, config.logvar_max),
      pseudo_init_mean=config.pseudo_init_mean,
      pseudo_init_std=config.pseudo_init_std,
      pseudo_param=config.pseudo_param,
      train_pseudo_inputs=config.train_pseudo_inputs,
      likelihood=config.likelihood,
      scale_mode=config.likelihood_scale_mode,
      scale=config.likelihood_scale,
      scale_bounds=(config.likelihood_scale_min, config.likelihood_scale_max),
      dtype=jnp.dtype(config.dtype),
      mesh=mesh if mesh is not None and mesh.size > 1 else None,
  )


def build_vae(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> VAE:
  """The one-level VAE a config describes."""
  return VAE(mlp_hidden=tuple(config.mlp_hidden), **model_fields(config, mesh))

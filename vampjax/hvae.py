"""The VampPrior paper's two-level hierarchical VAE (Tomczak & Welling, 2018, §3.2).

Inference runs top-down, q(z1, z2|x) = q(z2|x) q(z1|x, z2); the model is
p(x, z1, z2) = p(x|z1, z2) p(z1|z2) p(z2), where p(z2) is N(0, I) or the VampPrior whose
components q(z2|u_k) come from the same q(z2|·) network. Every network is built from gated
layers, h = (W₁x + b₁) ⊙ σ(W₂x + b₂): dense ones ("HVAE") or, for the encoders' view of x
and the decoder's output map, convolutions ("convHVAE"). Sizes follow the original code
(jmtomczak/vae_vampprior, models/HVAE_2level.py and convHVAE_2level.py).

The forward pass returns `Terms`: log p(x|z1, z2), log q(z1|x, z2) + log q(z2|x) and
log p(z1|z2) + log p(z2), so the loss, the ELBO and the IS-NLL are the one-level model's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn
from jax.sharding import Mesh

from vampjax import likelihoods, priors
from vampjax.distributions import gaussian_log_prob, sample_gaussian
from vampjax.gated import TORCH_DEFAULT, GatedConv2d, GatedDense, dense, torch_bias_init
from vampjax.networks import bounded_logvar
from vampjax.terms import Terms
from vampjax.vae import VAE, model_fields

HIDDEN = 300  # width of every gated dense layer of the paper
# (features, kernel, stride) of the gated convs; each pads kernel // 2 on every side.
Q_Z2_CONVS = ((32, 7, 1), (32, 3, 2), (64, 5, 1), (64, 3, 2), (6, 3, 1))
Q_Z1_CONVS = ((32, 3, 1), (32, 3, 2), (64, 3, 1), (64, 3, 2), (6, 3, 1))
P_X_CONVS = ((64, 3, 1),) * 4


def gated_convs(x: jax.Array, specs: tuple[tuple[int, int, int], ...],
                dtype: jnp.dtype) -> jax.Array:
  """A stack of GatedConv2d layers, from (features, kernel, stride) specs."""
  for features, kernel, stride in specs:
    x = GatedConv2d(features, kernel, stride, kernel // 2, dtype=dtype)(x)
  return x


class GaussianHead(nn.Module):
  """Linear μ and bounded log σ² of a diagonal Gaussian, in float32."""

  features: int
  logvar_bounds: tuple[float, float]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    head = lambda name: dense(self.features, h.shape[-1], self.dtype, name)(h).astype(jnp.float32)
    return head("mu"), bounded_logvar(head("logvar"), *self.logvar_bounds)


class TopEncoder(nn.Module):
  """q(z2|x): x (N, H, W, C) -> (μ, log σ²), each (N, D2).

  MLP: two gated dense layers of 300. Conv: five gated convs to a 6-channel map at 1/4
  of the resolution (294 features for 28×28).
  """

  latent_dim: int
  conv: bool
  logvar_bounds: tuple[float, float]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.astype(self.dtype)
    if self.conv:
      h = gated_convs(h, Q_Z2_CONVS, self.dtype)
    else:
      h = GatedDense(HIDDEN, self.dtype)(h.reshape(h.shape[0], -1))
      h = GatedDense(HIDDEN, self.dtype)(h)
    return GaussianHead(self.latent_dim, self.logvar_bounds, self.dtype)(
        h.reshape(h.shape[0], -1))


class BottomEncoder(nn.Module):
  """q(z1|x, z2): x (N, H, W, C), z2 (L, N, D2) -> (μ, log σ²), each (L, N, D1).

  x's features (one gated dense layer of 300, or a five-layer gated-conv stack) are
  computed once and shared by the L samples of z2; z2 goes through a gated dense layer of
  the same width, and the concatenation through a gated dense layer of 300.
  """

  latent_dim: int
  conv: bool
  logvar_bounds: tuple[float, float]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, z2: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = x.astype(self.dtype)
    if self.conv:
      h = gated_convs(h, Q_Z1_CONVS, self.dtype).reshape(h.shape[0], -1)
    else:
      h = GatedDense(HIDDEN, self.dtype)(h.reshape(h.shape[0], -1))
    hz = GatedDense(h.shape[-1], self.dtype)(z2.astype(self.dtype))
    joint = jnp.concatenate([jnp.broadcast_to(h, hz.shape), hz], axis=-1)
    h = GatedDense(HIDDEN, self.dtype)(joint)
    return GaussianHead(self.latent_dim, self.logvar_bounds, self.dtype)(h)


class ConditionalPrior(nn.Module):
  """p(z1|z2): two gated dense layers of 300 -> (μ, log σ²), each (..., D1)."""

  latent_dim: int
  logvar_bounds: tuple[float, float]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z2: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = GatedDense(HIDDEN, self.dtype)(z2.astype(self.dtype))
    h = GatedDense(HIDDEN, self.dtype)(h)
    return GaussianHead(self.latent_dim, self.logvar_bounds, self.dtype)(h)


class TwoLevelDecoder(nn.Module):
  """p(x|z1, z2): z1, z2 (..., D) -> pixel logits (..., H, W, C).

  z1 and z2 each through a gated dense layer of 300, concatenated; then MLP: a gated dense
  layer of 300 and a dense layer to the pixels; conv: a gated dense layer to an H×W×C map,
  four gated 3×3 convs of 64 channels and a 1×1 conv to the logits.
  """

  image_shape: tuple[int, int, int]
  conv: bool
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z1: jax.Array, z2: jax.Array) -> jax.Array:
    height, width, channels = self.image_shape
    h = jnp.concatenate([GatedDense(HIDDEN, self.dtype)(z1.astype(self.dtype)),
                         GatedDense(HIDDEN, self.dtype)(z2.astype(self.dtype))], axis=-1)
    batch = h.shape[:-1]
    if self.conv:
      h = GatedDense(height * width * channels, self.dtype)(h)
      h = gated_convs(h.reshape(-1, height, width, channels), P_X_CONVS, self.dtype)
      logits = nn.Conv(channels, (1, 1), kernel_init=TORCH_DEFAULT, name="logits",
                       bias_init=torch_bias_init(h.shape[-1]), dtype=self.dtype)(h)
    else:
      h = GatedDense(HIDDEN, self.dtype)(h)
      logits = dense(height * width * channels, h.shape[-1], self.dtype, name="logits")(h)
    return logits.reshape(*batch, height, width, channels).astype(jnp.float32)


class HVAE(VAE):
  """The two-level VAE: `latent_dim` is z2's size (the level with the prior), `z1_dim` z1's.

  It is the one-level VAE with q(z2|x) as its `encoder`, so the pseudo-inputs are encoded
  (and, under a mesh, split over devices) exactly as there. `architecture` is hvae_mlp or
  hvae_conv; `mlp_hidden` is unused (every gated dense layer has 300 units). Noise
  (L, N, noise_dim): the first latent_dim columns draw z2 ~ q(z2|x), the rest
  z1 ~ q(z1|x, z2).
  """

  z1_dim: int = 40

  def setup(self):
    self.encoder = TopEncoder(self.latent_dim, self.conv, self.logvar_bounds, dtype=self.dtype)
    self.bottom_encoder = BottomEncoder(self.z1_dim, self.conv, self.logvar_bounds,
                                        dtype=self.dtype)
    self.z1_prior = ConditionalPrior(self.z1_dim, self.logvar_bounds, dtype=self.dtype)
    self.decoder = TwoLevelDecoder(self.image_shape, self.conv, dtype=self.dtype)
    self._setup_prior_and_scale()

  @property
  def conv(self) -> bool:
    return self.architecture == "hvae_conv"

  @property
  def latent_levels(self) -> tuple[str, ...]:
    return ("z2", "z1")

  @property
  def kl_is_analytic(self) -> bool:
    return False  # the KL of p(z1|z2) p(z2) is estimated by sampling

  @property
  def noise_dim(self) -> int:
    return self.latent_dim + self.z1_dim

  def decode(self, z2: jax.Array, z1: jax.Array | None = None) -> jax.Array:
    """Pixel logits (N, H, W, C) of top latents z2 (N, D2) and bottom latents z1 (N, D1);
    without z1, the mean of p(z1|z2)."""
    return self.decoder(self.z1_prior(z2)[0] if z1 is None else z1, z2)

  def __call__(self, x: jax.Array, noise: jax.Array,
               prior: priors.Mixture | None = None) -> Terms:
    """Terms of x (N, H, W, C) for L samples drawn with standard-normal noise
    (L, N, noise_dim); each sample is decoded. `prior`: z2's precomputed prior."""
    if prior is None and self.is_vamp:
      mu2, logvar2, prior = self._encode_with_prior(x)
    else:
      mu2, logvar2 = self.encoder(x)
      prior = prior if prior is not None else self.prior_components()
    noise2, noise1 = jnp.split(noise, [self.latent_dim], axis=-1)
    z2 = mu2 + jnp.exp(0.5 * logvar2) * noise2
    mu1, logvar1 = self.bottom_encoder(x, z2)
    z1 = mu1 + jnp.exp(0.5 * logvar1) * noise1
    log_pz2 = priors.mixture_log_prob(z2, prior)
    return Terms(
        log_px_z=likelihoods.log_prob(x, self.decoder(z1, z2), self.log_scale(),
                                  self.likelihood),
        log_qz_x=gaussian_log_prob(z2, mu2, logvar2) + gaussian_log_prob(z1, mu1, logvar1),
        log_pz=log_pz2 + gaussian_log_prob(z1, *self.z1_prior(z2)))

  def posteriors(self, x: jax.Array) -> dict[str, tuple[jax.Array, jax.Array]]:
    """q(z2|x) and q(z1|x, z2) at z2 = E[z2|x], as (μ, log σ²) (N, D2) and (N, D1)."""
    mu2, logvar2 = self.encoder(x)
    return {"z2": (mu2, logvar2), "z1": self.bottom_encoder(x, mu2)}

  def reconstruct(self, x: jax.Array) -> jax.Array:
    """Pixel means (N, H, W, C) in [0, 1] decoded from the posterior means of both levels."""
    means = self.posterior_means(x)
    return self.pixel_means(means["z2"], means["z1"])

  def sample(self, rng: jax.Array, n: int) -> jax.Array:
    """n images as pixel means in [0, 1]: k ~ Uniform(K), z2 ~ q(z2|u_k) (or N(0, I)),
    z1 ~ p(z1|z2), decoded."""
    z2_rng, z1_rng = jax.random.split(rng)
    prior = self.prior_components()
    k = max(self.num_components, 1)  # the real components come first, padding after
    z2 = priors.sample(z2_rng, prior.mu[:k], prior.logvar[:k], n)
    return self.pixel_means(z2, sample_gaussian(z1_rng, *self.z1_prior(z2)))


def build_hvae(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> HVAE:
  """The two-level model a config describes (architecture hvae_mlp | hvae_conv); both
  levels have latent_dim units."""
  return HVAE(z1_dim=config.latent_dim, **model_fields(config, mesh))

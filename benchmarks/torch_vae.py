"""The study's and the VampPrior paper's VAEs and train step in PyTorch, for side-by-side
timing (benchmarks/vs_pytorch.py).

The same networks as vampjax/networks.py, vampjax/gated.py and vampjax/hvae.py (modules
named after the Flax ones, so `torch_layout.state_dict` copies vampjax's parameters in),
the same VampPrior (pseudo-inputs stored as logits or pixels, encoded in the same encoder
call as the batch), the same objective as vampjax/objective.py and Adam. The prior's
log-density uses the same matmul expansion as `priors.component_log_probs`, so both
frameworks do the same arithmetic. `MODELS` maps a config's `architecture` to its builder: a new
architecture adds a builder there.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import ml_collections
import torch
from torch import nn
from torch.nn import functional as F

from vampjax import models
from vampjax.hvae import HIDDEN, P_X_CONVS, Q_Z1_CONVS, Q_Z2_CONVS
from vampjax.networks import CHANNELS, DOWNSAMPLING

LOG_2PI = math.log(2.0 * math.pi)
LIKELIHOODS = ("gaussian_study", "bernoulli")  # those the PyTorch objective implements
Bounds = tuple[float, float]
ConvSpecs = tuple[tuple[int, int, int], ...]  # (features, kernel, stride) per layer


def logvar_bounds(config: ml_collections.ConfigDict) -> Bounds:
  return config.logvar_min, config.logvar_max


def bounded_logvar(h: torch.Tensor, low: float, high: float) -> torch.Tensor:
  """log σ² in (low, high) by a shifted sigmoid, h = 0 giving 0, as every vampjax encoder
  (vampjax.networks.bounded_logvar)."""
  shift = math.log(-low / high) if low < 0 < high else 0.0
  return low + (high - low) * torch.sigmoid(h + shift)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
  """log N(z; μ, diag exp(logvar)), summed over the last axis."""
  return -0.5 * torch.sum(LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar), dim=-1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
  return mu + torch.exp(0.5 * logvar) * noise


def mixture_log_prob(z: torch.Tensor, mu_k: torch.Tensor, logvar_k: torch.Tensor
                     ) -> torch.Tensor:
  """log (1/K) Σ_k N(z; μ_k, σ²_k), z (L, N, D) -> (L, N), as two matmuls after centring
  (vampjax.priors.component_log_probs)."""
  centre = mu_k.mean(0).detach()
  z, mu_k = z - centre, mu_k - centre
  precision = torch.exp(-logvar_k)
  quadratic = ((z * z) @ precision.T - 2.0 * z @ (mu_k * precision).T
               + torch.sum(mu_k * mu_k * precision, dim=-1))
  log_density = -0.5 * (quadratic + torch.sum(logvar_k, dim=-1) + z.shape[-1] * LOG_2PI)
  return torch.logsumexp(log_density, dim=-1) - math.log(mu_k.shape[0])


def flat_pixels(x: torch.Tensor) -> torch.Tensor:
  """Images (..., C, H, W) -> (..., H·W·C), flattened in vampjax's (h, w, c) order so that
  dense layers on pixels take vampjax's kernels as they are."""
  return x.movedim(-3, -1).flatten(-3)


def pixel_map(h: torch.Tensor, image_shape: tuple[int, int, int]) -> torch.Tensor:
  """The inverse of `flat_pixels`: (..., H·W·C) -> (..., C, H, W)."""
  return h.unflatten(-1, image_shape).movedim(-1, -3)


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """(H, W, C), vampjax's order."""
  return config.data.image_size, config.data.image_size, config.data.channels


class GaussianHead(nn.Module):
  """Dense μ and bounded log σ² of a diagonal Gaussian (vampjax.hvae.GaussianHead); the
  one-level encoders, whose heads `mu` and `logvar` are their own layers, extend it."""

  def __init__(self, fan_in: int, features: int, bounds: Bounds):
    super().__init__()
    self.bounds = bounds
    self.mu = nn.Linear(fan_in, features)
    self.logvar = nn.Linear(fan_in, features)

  def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return self.mu(h), bounded_logvar(self.logvar(h), *self.bounds)


class ResBlock(nn.Module):
  """Two 3×3 convs with a ReLU between them and an identity skip, then ReLU."""

  def __init__(self, features: int):
    super().__init__()
    self.Conv3x3_0 = nn.Conv2d(features, features, 3, padding=1)
    self.Conv3x3_1 = nn.Conv2d(features, features, 3, padding=1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.relu(x + self.Conv3x3_1(F.relu(self.Conv3x3_0(x))))


class Encoder(GaussianHead):
  """Four 4×4 stride-2 convs (ReLU, a ResBlock after each if residual), dense μ and log σ²."""

  def __init__(self, config: ml_collections.ConfigDict, residual: bool):
    features = CHANNELS[-1] * (config.data.image_size // DOWNSAMPLING) ** 2
    super().__init__(features, config.latent_dim, logvar_bounds(config))
    self.residual = residual
    inputs = (config.data.channels, *CHANNELS[:-1])
    for i, (c_in, c_out) in enumerate(zip(inputs, CHANNELS)):
      self.add_module(f"Conv2xDown_{i}", nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))
      if residual:
        self.add_module(f"ResBlock_{i}", ResBlock(c_out))

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = x
    for i in range(len(CHANNELS)):
      h = F.relu(getattr(self, f"Conv2xDown_{i}")(h))
      if self.residual:
        h = getattr(self, f"ResBlock_{i}")(h)
    return super().forward(h.flatten(1))


class Decoder(nn.Module):
  """Dense -> 256×H/16×W/16, four ConvTranspose2d(4, 2, 1) (ResBlocks between if residual),
  plus vampjax's per-pixel output bias."""

  def __init__(self, config: ml_collections.ConfigDict, residual: bool):
    super().__init__()
    self.residual, self.side = residual, config.data.image_size // DOWNSAMPLING
    self.Dense_0 = nn.Linear(config.latent_dim, CHANNELS[-1] * self.side ** 2)
    ups = [*reversed(CHANNELS[:-1]), config.data.channels]
    self.num_ups = len(ups)
    for i, (c_in, c_out) in enumerate(zip(reversed(CHANNELS), ups)):
      if residual and i > 0:
        self.add_module(f"ResBlock_{i - 1}", ResBlock(c_in))
      self.add_module(f"ConvTranspose2x_{i}",
                      nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
    size = config.data.image_size
    self.output_bias = nn.Parameter(torch.zeros(config.data.channels, size, size))

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    h = F.relu(self.Dense_0(z).view(z.shape[0], CHANNELS[-1], self.side, self.side))
    for i in range(self.num_ups):
      if self.residual and i > 0:
        h = getattr(self, f"ResBlock_{i - 1}")(h)
      h = getattr(self, f"ConvTranspose2x_{i}")(h)
      if i < self.num_ups - 1:
        h = F.relu(h)
    return h + self.output_bias


class Gated(nn.Module):
  """h(x) ⊙ σ(g(x)) of two layers of one kind (vampjax.gated's gated layers)."""

  def __init__(self, h: nn.Module, g: nn.Module):
    super().__init__()
    self.h, self.g = h, g

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.h(x) * torch.sigmoid(self.g(x))


class GatedDense(Gated):
  """h = (W₁x + b₁) ⊙ σ(W₂x + b₂) (vampjax.gated.GatedDense)."""

  def __init__(self, fan_in: int, features: int):
    super().__init__(nn.Linear(fan_in, features), nn.Linear(fan_in, features))


class GatedConv2d(Gated):
  """conv_h(x) ⊙ σ(conv_g(x)), each side padded by kernel // 2 as the convHVAE's
  (vampjax.gated.GatedConv2d, vampjax.hvae.gated_convs)."""

  def __init__(self, fan_in: int, features: int, kernel: int, stride: int):
    conv = lambda: nn.Conv2d(fan_in, features, kernel, stride, padding=kernel // 2)
    super().__init__(conv(), conv())


def dense_stack(widths: Sequence[int]) -> list[GatedDense]:
  """Gated dense layers from widths[0] features through each of widths[1:]."""
  return [GatedDense(fan_in, features) for fan_in, features in zip(widths, widths[1:])]


def conv_stack(fan_in: int, specs: ConvSpecs) -> list[GatedConv2d]:
  """Gated convs from vampjax.hvae's (features, kernel, stride) specs, on fan_in channels."""
  layers = []
  for features, kernel, stride in specs:
    layers.append(GatedConv2d(fan_in, features, kernel, stride))
    fan_in = features
  return layers


def add_numbered(module: nn.Module, layers: Sequence[nn.Module]) -> None:
  """Adds `layers` to `module` under Flax's automatic names, by class in order:
  GatedDense_0, GatedDense_1, ..., GatedConv2d_0, ..."""
  for layer in layers:
    kind = type(layer).__name__
    count = sum(name.startswith(f"{kind}_") for name, _ in module.named_children())
    module.add_module(f"{kind}_{count}", layer)


def gated(module: nn.Module) -> list[Gated]:
  """`module`'s gated layers in the order they were added."""
  return [layer for layer in module.children() if isinstance(layer, Gated)]


def chain(layers: Sequence[nn.Module], h: torch.Tensor) -> torch.Tensor:
  """h through `layers` in turn."""
  for layer in layers:
    h = layer(h)
  return h


def pixel_features(layers: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
  """x (N, C, H, W) through `layers`' gated convs, the map flattened in vampjax's (h, w, c)
  order, then through their gated dense layers: how every gated model reads the pixels."""
  convs = [layer for layer in layers if isinstance(layer, GatedConv2d)]
  return chain(layers[len(convs):], flat_pixels(chain(convs, x)))


class MLPEncoder(GaussianHead):
  """The paper's one-level q(z|x) (vampjax.gated.MLPEncoder): gated dense layers on the
  pixels, dense μ and log σ²."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config.mlp_hidden[-1], config.latent_dim, logvar_bounds(config))
    add_numbered(self, dense_stack((math.prod(image_shape(config)), *config.mlp_hidden)))

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return super().forward(pixel_features(gated(self), x))


class MLPDecoder(nn.Module):
  """The paper's one-level p(x|z) (vampjax.gated.MLPDecoder): gated dense layers, then a
  dense layer to the pixel logits (N, C, H, W)."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__()
    self.image_shape = image_shape(config)
    add_numbered(self, dense_stack((config.latent_dim, *config.mlp_hidden)))
    self.logits = nn.Linear(config.mlp_hidden[-1], math.prod(self.image_shape))

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    return pixel_map(self.logits(chain(gated(self), z)), self.image_shape)


def is_conv_hvae(config: ml_collections.ConfigDict) -> bool:
  return config.architecture == "hvae_conv"


def pixel_layers(config: ml_collections.ConfigDict, specs: ConvSpecs, dense_layers: int
                 ) -> tuple[list[Gated], int]:
  """An HVAE network's layers that read x, and the width of their features: the convHVAE's
  gated convs of `specs` (6 channels at 1/4 of the resolution, flattened), else
  `dense_layers` gated dense layers of 300 on the pixels."""
  if not is_conv_hvae(config):
    return dense_stack((math.prod(image_shape(config)), *[HIDDEN] * dense_layers)), HIDDEN
  side = config.data.image_size
  for _, kernel, stride in specs:  # odd kernels padded by kernel // 2
    side = (side - 1) // stride + 1
  return conv_stack(config.data.channels, specs), side * side * specs[-1][0]


class GatedGaussian(nn.Module):
  """Gated layers, then GaussianHead_0: the HVAE's q(z2|x) (on the pixels) and p(z1|z2)
  (vampjax.hvae.TopEncoder, ConditionalPrior). `width`: the last layer's features."""

  def __init__(self, layers: Sequence[Gated], width: int, features: int, bounds: Bounds,
               on_pixels: bool):
    super().__init__()
    self.on_pixels = on_pixels
    add_numbered(self, layers)
    self.GaussianHead_0 = GaussianHead(width, features, bounds)

  def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    layers = gated(self)
    return self.GaussianHead_0(pixel_features(layers, h) if self.on_pixels
                               else chain(layers, h))


class BottomEncoder(nn.Module):
  """q(z1|x, z2) (vampjax.hvae.BottomEncoder): x's features (a gated dense layer, or the
  convHVAE's gated convs), shared by the L samples of z2, next to z2's (a gated dense layer
  as wide), through one more gated layer to μ and log σ², each (L, N, D1)."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__()
    x_layers, width = pixel_layers(config, Q_Z1_CONVS, 1)
    add_numbered(self, [*x_layers, GatedDense(config.latent_dim, width),
                        GatedDense(2 * width, HIDDEN)])
    self.GaussianHead_0 = GaussianHead(HIDDEN, config.latent_dim, logvar_bounds(config))

  def forward(self, x: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    *x_layers, z_layer, joint = gated(self)
    hz = z_layer(z2)
    h = pixel_features(x_layers, x).expand_as(hz)
    return self.GaussianHead_0(joint(torch.cat([h, hz], dim=-1)))


class TwoLevelDecoder(nn.Module):
  """p(x|z1, z2) (vampjax.hvae.TwoLevelDecoder): z1 and z2 each through a gated layer,
  concatenated, one more gated layer; then MLP: a dense layer to the logits; conv: that
  layer's H·W·C features as a map through four gated 3×3 convs and a 1×1 conv to the
  logits. Logits (..., C, H, W)."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__()
    self.image_shape, self.conv = image_shape(config), is_conv_hvae(config)
    pixels, latent, channels = math.prod(self.image_shape), config.latent_dim, config.data.channels
    add_numbered(self, [GatedDense(latent, HIDDEN), GatedDense(latent, HIDDEN),
                        GatedDense(2 * HIDDEN, pixels if self.conv else HIDDEN)])
    if self.conv:
      add_numbered(self, conv_stack(channels, P_X_CONVS))
      self.logits = nn.Conv2d(P_X_CONVS[-1][0], channels, 1)
    else:
      self.logits = nn.Linear(HIDDEN, pixels)

  def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    z1_layer, z2_layer, joint, *convs = gated(self)
    h = joint(torch.cat([z1_layer(z1), z2_layer(z2)], dim=-1))
    if not self.conv:
      return pixel_map(self.logits(h), self.image_shape)
    maps = pixel_map(h, self.image_shape)
    return self.logits(chain(convs, maps.flatten(0, -4))).unflatten(0, maps.shape[:-3])


class VampPrior(nn.Module):
  """The K pseudo-inputs (K, C, H, W), stored as vampjax's `priors.VampPrior` stores them
  (`config.pseudo_param`): logits mapped by a sigmoid, or pixels clipped to [0, 1] with a
  straight-through gradient; learned unless `config.train_pseudo_inputs` is off."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__()
    size, channels = config.data.image_size, config.data.channels
    pixels = config.pseudo_init_mean + config.pseudo_init_std * torch.randn(
        config.num_components, channels, size, size)
    self.as_logits = config.pseudo_param == "logits"
    if self.as_logits:
      self.pseudo_logits = nn.Parameter(torch.logit(pixels.clamp(1e-4, 1 - 1e-4)))
    else:
      self.pseudo_pixels = nn.Parameter(pixels)
    self.requires_grad_(config.train_pseudo_inputs)  # fixed ones get no gradient

  def forward(self) -> torch.Tensor:
    """The pseudo-inputs' pixels, in [0, 1]."""
    if self.as_logits:
      return torch.sigmoid(self.pseudo_logits)
    stored = self.pseudo_pixels
    return stored + (stored.clamp(0.0, 1.0) - stored).detach()


class VAE(nn.Module):
  """loss(x, noise, beta) -> (mean loss, per-example terms), as vampjax's objective.

  The one forward of every model: the batch (with the pseudo-inputs, under a VampPrior)
  encoded, then `decode_and_kl`, which a model with more latent levels overrides.
  """

  def __init__(self, config: ml_collections.ConfigDict, encoder: nn.Module, decoder: nn.Module):
    super().__init__()
    if config.likelihood not in LIKELIHOODS:
      raise ValueError(f"likelihood={config.likelihood!r} has no PyTorch objective here "
                       f"(has {LIKELIHOODS}).")
    self.likelihood, self.latent_dim = config.likelihood, config.latent_dim
    self.encoder, self.decoder = encoder, decoder
    self.vamp_prior = VampPrior(config) if config.prior == "vamp" else None

  def encode(self, x: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """(μ, log σ²) of x and the prior's components (μ_k, log σ²_k): under a VampPrior the
    pseudo-inputs encoded in the same call as the batch, else N(0, I) as one component."""
    if self.vamp_prior is None:
      zeros = x.new_zeros(1, self.latent_dim)
      return *self.encoder(x), (zeros, zeros)
    n, u = x.shape[0], self.vamp_prior()
    mu, logvar = self.encoder(torch.cat([x, u]))
    (mu, mu_k), (logvar, logvar_k) = mu.split([n, u.shape[0]]), logvar.split([n, u.shape[0]])
    return mu, logvar, (mu_k, logvar_k)

  def decode_and_kl(self, x: torch.Tensor, noise: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (L, N, C, H, W) of the L samples of z and the KL (N,): closed form to N(0, I),
    else mean_L[log q(z|x) − log p(z)]."""
    mu, logvar, prior = self.encode(x)
    z = reparameterise(mu, logvar, noise)
    logits = self.decoder(z.flatten(0, 1)).unflatten(0, z.shape[:2])
    if self.vamp_prior is None:
      kl = 0.5 * torch.sum(mu ** 2 + torch.exp(logvar) - logvar - 1.0, dim=-1)
    else:
      kl = torch.mean(gaussian_log_prob(z, mu, logvar) - mixture_log_prob(z, *prior), dim=0)
    return logits, kl

  def forward(self, x: torch.Tensor, noise: torch.Tensor, beta: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x (N, C, H, W), noise (L, N, noise_dim) -> the mean of reconstruction + β·KL, and
    the terms; reconstruction = −log p(x|z) averaged over the L samples."""
    logits, kl = self.decode_and_kl(x, noise)
    if self.likelihood == "gaussian_study":
      per_pixel = 0.5 * (x - torch.sigmoid(logits)) ** 2
    else:
      per_pixel = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                                     reduction="none")
    reconstruction = per_pixel.flatten(-3).sum(-1).mean(0)
    loss = reconstruction + beta * kl
    return loss.mean(), {"loss": loss, "reconstruction": reconstruction, "kl": kl}


class HVAE(VAE):
  """The paper's two-level VAE (vampjax.hvae.HVAE), MLP or conv: q(z2|x) is the `encoder`
  (so the pseudo-inputs are encoded as in the one-level VAE), then q(z1|x, z2), p(z1|z2)
  and p(x|z1, z2). Noise (L, N, D2 + D1): the first D2 columns draw z2, the rest z1."""

  def __init__(self, config: ml_collections.ConfigDict):
    bounds, latent = logvar_bounds(config), config.latent_dim
    super().__init__(config, GatedGaussian(*pixel_layers(config, Q_Z2_CONVS, 2), latent, bounds,
                                           on_pixels=True),
                     TwoLevelDecoder(config))
    self.bottom_encoder = BottomEncoder(config)
    self.z1_prior = GatedGaussian(dense_stack((latent, HIDDEN, HIDDEN)), HIDDEN, latent, bounds,
                                  on_pixels=False)

  def decode_and_kl(self, x: torch.Tensor, noise: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (L, N, C, H, W) and the KL (N,): mean_L[log q(z1|x, z2) + log q(z2|x)
    − log p(z1|z2) − log p(z2)]."""
    mu2, logvar2, prior = self.encode(x)
    noise2, noise1 = noise.split([self.latent_dim, noise.shape[-1] - self.latent_dim], dim=-1)
    z2 = reparameterise(mu2, logvar2, noise2)
    mu1, logvar1 = self.bottom_encoder(x, z2)
    z1 = reparameterise(mu1, logvar1, noise1)
    log_q = gaussian_log_prob(z2, mu2, logvar2) + gaussian_log_prob(z1, mu1, logvar1)
    log_p = mixture_log_prob(z2, *prior) + gaussian_log_prob(z1, *self.z1_prior(z2))
    return self.decoder(z1, z2), torch.mean(log_q - log_p, dim=0)


MODELS: dict[str, Callable[[ml_collections.ConfigDict], VAE]] = {
    "conv": lambda config: VAE(config, Encoder(config, False), Decoder(config, False)),
    "resnet": lambda config: VAE(config, Encoder(config, True), Decoder(config, True)),
    "gated_mlp": lambda config: VAE(config, MLPEncoder(config), MLPDecoder(config)),
    "hvae_mlp": HVAE,
    "hvae_conv": HVAE,
}


def build(config: ml_collections.ConfigDict) -> VAE:
  """The PyTorch model of a config, by its `architecture`."""
  if config.architecture not in MODELS:
    raise ValueError(f"architecture={config.architecture!r} has no PyTorch model; add one to "
                     f"benchmarks/torch_vae.MODELS (has {sorted(MODELS)}).")
  return MODELS[config.architecture](config)


def make_step(model: VAE, config: ml_collections.ConfigDict, compile_loss: bool
              ) -> Callable[[torch.Tensor, float], torch.Tensor]:
  """step(x, beta) -> loss: fresh noise of vampjax's shape (objective.sample_noise), the loss
  (under torch.compile if asked), backward, Adam (eager: the loss's forward and backward
  are what compiling can speed up)."""
  optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
  loss_fn = torch.compile(model) if compile_loss else model
  samples, _, width = models.build_model(config).noise_shape(0, config.kl_samples)

  def step(x, beta):
    optimizer.zero_grad(set_to_none=True)
    noise = torch.randn(samples, x.shape[0], width, device=x.device)
    loss, _ = loss_fn(x, noise, beta)
    loss.backward()
    optimizer.step()
    return loss.detach()

  return step

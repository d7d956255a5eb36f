"""The study's VAE and train step in PyTorch, for side-by-side timing (benchmarks/vs_pytorch.py).

The same networks as vampjax/networks.py (modules named after the Flax ones, so
`torch_layout.state_dict` copies vampjax's parameters in), the same VampPrior (pseudo-inputs
stored as logits, encoded in the same encoder call as the batch), the same objective as
vampjax/objective.py and Adam. The prior's log-density uses the same matmul expansion as
`priors.component_log_probs`, so both frameworks do the same arithmetic. `MODELS` maps a
config's `architecture` to its builder: a new architecture adds a builder there.
"""

from __future__ import annotations

import math
from typing import Callable

import ml_collections
import torch
from torch import nn
from torch.nn import functional as F

from vampjax.networks import CHANNELS, DOWNSAMPLING

LOG_2PI = math.log(2.0 * math.pi)


class ResBlock(nn.Module):
  """Two 3×3 convs with a ReLU between them and an identity skip, then ReLU."""

  def __init__(self, features: int):
    super().__init__()
    self.Conv3x3_0 = nn.Conv2d(features, features, 3, padding=1)
    self.Conv3x3_1 = nn.Conv2d(features, features, 3, padding=1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.relu(x + self.Conv3x3_1(F.relu(self.Conv3x3_0(x))))


class Encoder(nn.Module):
  """Four 4×4 stride-2 convs (ReLU, a ResBlock after each if residual), dense μ and log σ²."""

  def __init__(self, config: ml_collections.ConfigDict, residual: bool):
    super().__init__()
    self.residual, self.bounds = residual, (config.logvar_min, config.logvar_max)
    inputs = (config.data.channels, *CHANNELS[:-1])
    for i, (c_in, c_out) in enumerate(zip(inputs, CHANNELS)):
      self.add_module(f"Conv2xDown_{i}", nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))
      if residual:
        self.add_module(f"ResBlock_{i}", ResBlock(c_out))
    features = CHANNELS[-1] * (config.data.image_size // DOWNSAMPLING) ** 2
    self.mu = nn.Linear(features, config.latent_dim)
    self.logvar = nn.Linear(features, config.latent_dim)

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = x
    for i in range(len(CHANNELS)):
      h = F.relu(getattr(self, f"Conv2xDown_{i}")(h))
      if self.residual:
        h = getattr(self, f"ResBlock_{i}")(h)
    h = h.flatten(1)
    low, high = self.bounds
    shift = math.log(-low / high) if low < 0 < high else 0.0
    return self.mu(h), low + (high - low) * torch.sigmoid(self.logvar(h) + shift)


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


class VampPrior(nn.Module):
  """The K pseudo-inputs, stored as logits (K, C, H, W)."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__()
    size, channels = config.data.image_size, config.data.channels
    pixels = config.pseudo_init_mean + config.pseudo_init_std * torch.randn(
        config.num_components, channels, size, size)
    self.pseudo_logits = nn.Parameter(torch.logit(pixels.clamp(1e-4, 1 - 1e-4)))


class VAE(nn.Module):
  """loss(x, noise, beta) -> (mean loss, per-example terms), as vampjax's objective."""

  def __init__(self, config: ml_collections.ConfigDict, residual: bool):
    super().__init__()
    self.likelihood = config.likelihood
    self.encoder = Encoder(config, residual)
    self.decoder = Decoder(config, residual)
    self.vamp_prior = VampPrior(config) if config.prior == "vamp" else None

  def forward(self, x: torch.Tensor, noise: torch.Tensor, beta: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x (N, C, H, W), noise (L, N, D) -> the mean of reconstruction + β·KL, and the terms."""
    n = x.shape[0]
    if self.vamp_prior is None:
      mu, logvar = self.encoder(x)
    else:
      u = torch.sigmoid(self.vamp_prior.pseudo_logits)
      mu, logvar = self.encoder(torch.cat([x, u]))
      (mu, mu_k), (logvar, logvar_k) = mu.split([n, u.shape[0]]), logvar.split([n, u.shape[0]])
    z = mu + torch.exp(0.5 * logvar) * noise
    logits = self.decoder(z[0])
    if self.likelihood == "gaussian_study":
      per_pixel = 0.5 * (x - torch.sigmoid(logits)) ** 2
    else:
      per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    reconstruction = per_pixel.flatten(1).sum(-1)
    if self.vamp_prior is None:
      kl = 0.5 * torch.sum(mu ** 2 + torch.exp(logvar) - logvar - 1.0, dim=-1)
    else:
      log_q = -0.5 * torch.sum(LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar), dim=-1)
      kl = torch.mean(log_q - mixture_log_prob(z, mu_k, logvar_k), dim=0)
    loss = reconstruction + beta * kl
    return loss.mean(), {"loss": loss, "reconstruction": reconstruction, "kl": kl}


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


MODELS: dict[str, Callable[[ml_collections.ConfigDict], VAE]] = {
    "conv": lambda config: VAE(config, residual=False),
    "resnet": lambda config: VAE(config, residual=True),
}


def build(config: ml_collections.ConfigDict) -> VAE:
  """The PyTorch model of a config, by its `architecture`."""
  if config.architecture not in MODELS:
    raise ValueError(f"architecture={config.architecture!r} has no PyTorch model; add one to "
                     f"benchmarks/torch_vae.MODELS (has {sorted(MODELS)}).")
  return MODELS[config.architecture](config)


def make_step(model: VAE, config: ml_collections.ConfigDict, compile_loss: bool
              ) -> Callable[[torch.Tensor, float], torch.Tensor]:
  """step(x, beta) -> loss: fresh noise, the loss (under torch.compile if asked), backward,
  Adam (eager: the loss's forward and backward are what compiling can speed up)."""
  optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
  loss_fn = torch.compile(model) if compile_loss else model
  samples = 1 if config.prior == "standard" else config.kl_samples

  def step(x, beta):
    optimizer.zero_grad(set_to_none=True)
    noise = torch.randn(samples, x.shape[0], config.latent_dim)
    loss, _ = loss_fn(x, noise, beta)
    loss.backward()
    optimizer.step()
    return loss.detach()

  return step

"""An elucidated diffusion model (EDM, Karras et al., NeurIPS 2022) over flat vectors, as SynthER uses it.

Data x (standardised, so σ_data = 1) is noised as x + σ·ε with ln σ ~ N(P_mean, P_std²); the denoiser is the
preconditioned network of EDM's Table 1,

    D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, ln(σ)/4),
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ·σ_d / √(σ² + σ_d²),  c_in = 1 / √(σ² + σ_d²),

trained on  L = E[λ(σ)·‖D(x + σε; σ) − x‖² / d],  λ(σ) = (σ² + σ_d²) / (σ·σ_d)²,  and sampled with EDM's
stochastic Heun sampler (Algorithm 2) on the schedule σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.
F is SynthER's residual MLP: a random-Fourier-feature embedding of the noise level added to a projection of x,
then ``layers`` blocks h ← h + W·relu(h), relu, a linear output. The constants' defaults are EDM's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EDMConstants:
    """EDM's constants (their paper values) and the stochastic sampler's (SynthER's values)."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigma_data: float = 1.0
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2
    s_churn: float = 80.0
    s_tmin: float = 0.05
    s_tmax: float = 50.0
    s_noise: float = 1.003


class ResidualMLPDenoiser(nn.Module):
    """F(x, c_noise): (B, d), (B,) → (B, d); ``width`` hidden units, ``layers`` residual blocks."""

    def __init__(self, d: int, width: int, layers: int, dim_t: int = 128, fourier_dim: int = 16) -> None:
        super().__init__()
        self.fourier: torch.Tensor
        self.register_buffer("fourier", torch.randn(fourier_dim // 2))  # random Fourier frequencies, not trained
        self.time = nn.Sequential(nn.Linear(fourier_dim + 1, dim_t), nn.SiLU(), nn.Linear(dim_t, dim_t))
        self.proj = nn.Linear(d, dim_t)
        self.inp = nn.Linear(dim_t, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.out = nn.Linear(width, d)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        t = c_noise[:, None]
        angles = 2 * math.pi * t * self.fourier[None, :]
        h = self.proj(x) + self.time(torch.cat([t, angles.sin(), angles.cos()], dim=1))
        h = self.inp(h)
        for block in self.blocks:
            h = h + block(torch.relu(h))
        return self.out(torch.relu(h))


class EDM(nn.Module):
    """The preconditioned denoiser D(x; σ), its training loss and its sampler (module docstring)."""

    def __init__(self, net: ResidualMLPDenoiser, d: int, settings: EDMConstants = EDMConstants()) -> None:
        super().__init__()
        self.net, self.d, self.s = net, d, settings

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; σ) for x (B, d) and σ (B,)."""
        sd, sig = self.s.sigma_data, sigma[:, None]
        c_skip = sd ** 2 / (sig ** 2 + sd ** 2)
        c_out = sig * sd / (sig ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sig ** 2 + sd ** 2).sqrt()
        return c_skip * x + c_out * self.net(c_in * x, sigma.log() / 4)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """L = E[λ(σ)·‖D(x + σε; σ) − x‖² / d] over a batch x (B, d) of standardised data."""
        sigma = (self.s.p_mean + self.s.p_std * torch.randn(len(x), device=x.device)).exp()
        noised = x + sigma[:, None] * torch.randn_like(x)
        weight = (sigma ** 2 + self.s.sigma_data ** 2) / (sigma * self.s.sigma_data) ** 2
        return (weight * ((self.denoise(noised, sigma) - x) ** 2).mean(dim=1)).mean()

    def schedule(self, steps: int) -> torch.Tensor:
        """(steps + 1,) noise levels σ_0 = σ_max > … > σ_{N−1} = σ_min, σ_N = 0."""
        inv = 1 / self.s.rho
        i = torch.arange(steps, dtype=torch.float64)
        span = self.s.sigma_min ** inv - self.s.sigma_max ** inv
        sigmas = (self.s.sigma_max ** inv + i / max(steps - 1, 1) * span) ** self.s.rho
        return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])

    @torch.no_grad()
    def sample(self, n: int, steps: int, generator: torch.Generator) -> torch.Tensor:
        """n samples (n, d) in the standardised space: EDM's stochastic Heun sampler with ``steps`` levels, on the
        device of ``generator`` (the network's: the noise is drawn where it is used)."""
        sigmas = self.schedule(steps).tolist()
        gamma_max = min(self.s.s_churn / steps, math.sqrt(2) - 1)
        device = generator.device
        x = sigmas[0] * torch.randn(n, self.d, generator=generator, device=device)
        ones = torch.ones(n, device=device)
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:], strict=True):
            gamma = gamma_max if self.s.s_tmin <= sigma <= self.s.s_tmax else 0.0
            sigma_hat = sigma * (1 + gamma)
            eps = self.s.s_noise * torch.randn(n, self.d, generator=generator, device=device)
            x_hat = x + math.sqrt(max(sigma_hat ** 2 - sigma ** 2, 0.0)) * eps
            slope = (x_hat - self.denoise(x_hat, sigma_hat * ones)) / sigma_hat
            x = x_hat + (sigma_next - sigma_hat) * slope
            if sigma_next > 0:  # second-order (Heun) correction
                slope_next = (x - self.denoise(x, sigma_next * ones)) / sigma_next
                x = x_hat + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)
        return x

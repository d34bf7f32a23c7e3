"""Where recall traces start (Alg. 2 of Goyal et al.): high-value demo states, Goal-GAN states, or uniform.

A *start* is the state s' a backward trace ends in. Every rule draws from the demos' observations, restricted to a
window of each demo by relative position t / T (:func:`window_mask`): a segment ``head`` [0, ⅓), ``middle``
[⅓, ⅔), ``tail`` [⅔, 1) or ``all``, or one of bdm-cl's curriculum windows.

Value estimate V(s) (the critic of Alg. 2): the discounted Monte-Carlo return-to-go of each demo state,

    G_t = Σ_{k=0}^{T−1−t} γ^k r_{t+k}  +  [episode ends in a timeout] · γ^{T−t} · r̄ / (1 − γ),

where r̄ is the episode's mean reward: a timeout cuts an episode that would have gone on, so its tail is completed
as if the episode kept its average pace (without this, every state near a timeout would look worthless).
G is then regressed on the state by a small MLP (:class:`~trajaug.augment.backtracking.model.MLPRegressor`), which
smooths the per-step reward noise and is the V(s) states are ranked by; ``value_steps = 0`` ranks by G itself.

* ``high-value``: for each demo, its top-k share of the window's states by V; ``per_episode`` of them are drawn
  without replacement (with replacement if there are fewer), so every demo contributes equally.
* ``goal-gan``: a small GAN (generator z ~ N(0, I) → state; the shared GAIL-style discriminator, without action
  input) is trained on the top-k states of all demos; each sample g is decoded to the nearest top-k demo state in
  normalised Euclidean distance (``decode = nearest``), or kept as it is (``decode = raw``). The source episode of a
  start is the demo holding that nearest state.
* ``uniform``: ``per_episode`` states drawn uniformly from each demo's window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from trajaug.augment.networks import STD_FLOOR, Discriminator, MLPRegressor
from trajaug.augment.networks import silu_mlp as mlp
from trajaug.core.dataset import Dataset

SEGMENTS = ("all", "head", "middle", "tail")
START_RULES = ("high-value", "goal-gan", "uniform")
GAN_DECODINGS = ("nearest", "raw")

Starts = tuple[np.ndarray, np.ndarray]
"""(states (n, obs_dim) float32, source episode of each (n,) int32)."""


def episode_of_rows(dataset: Dataset) -> np.ndarray:
    """(N,) int32 episode index of every row."""
    bounds = dataset.episode_bounds
    return np.repeat(np.arange(len(bounds), dtype=np.int32), bounds[:, 1] - bounds[:, 0])


def relative_position(dataset: Dataset) -> np.ndarray:
    """(N,) float64 t / T of every row in its episode, in [0, 1)."""
    bounds = dataset.episode_bounds
    lengths = np.repeat(bounds[:, 1] - bounds[:, 0], bounds[:, 1] - bounds[:, 0])
    return (np.arange(len(dataset)) - np.repeat(bounds[:, 0], bounds[:, 1] - bounds[:, 0])) / lengths


def segment_bounds(segment: str) -> tuple[float, float]:
    """[low, high) relative positions of ``segment`` (one of :data:`SEGMENTS`)."""
    limits = {"all": (0.0, 1.0), "head": (0.0, 1 / 3), "middle": (1 / 3, 2 / 3), "tail": (2 / 3, 1.0)}
    if segment not in limits:
        raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    return limits[segment]


def window_mask(dataset: Dataset, low: float, high: float) -> np.ndarray:
    """(N,) bool: rows whose relative position t / T lies in [low, high) (up to 1e-9)."""
    position = relative_position(dataset)
    return (position >= low - 1e-9) & (position < high - 1e-9)


def segment_mask(dataset: Dataset, segment: str) -> np.ndarray:
    """(N,) bool: rows in ``segment`` (one of :data:`SEGMENTS`) of their episode."""
    return window_mask(dataset, *segment_bounds(segment))


def returns_to_go(dataset: Dataset, gamma: float) -> np.ndarray:
    """(N,) float64 G_t of the module docstring (reward units)."""
    values = np.zeros(len(dataset))
    rewards = dataset.rewards.astype(np.float64)
    for start, stop in dataset.episode_bounds:
        after = 0.0 if dataset.terminals[stop - 1] else rewards[start:stop].mean() / (1.0 - gamma)
        for row in range(stop - 1, start - 1, -1):
            after = rewards[row] + gamma * after
            values[row] = after
    return values


def value_estimate(dataset: Dataset, gamma: float, steps: int, hidden: Sequence[int], seed: int) -> np.ndarray:
    """(N,) float64 V(s_t) of every demo row: the MLP fit of G_t (``steps`` updates), or G_t for ``steps = 0``."""
    targets = returns_to_go(dataset, gamma)
    if steps == 0:
        return targets
    model, _ = MLPRegressor.fit(dataset.observations, targets[:, None], hidden, steps, seed)
    return model.predict(dataset.observations)[:, 0]


def top_share(rows: np.ndarray, values: np.ndarray, top_k: float) -> np.ndarray:
    """The ⌈top_k · len(rows)⌉ entries of ``rows`` with the highest ``values[rows]``, best first."""
    count = max(1, math.ceil(top_k * len(rows))) if len(rows) else 0
    return rows[np.argsort(-values[rows], kind="stable")[:count]]


def _draw(rng: np.random.Generator, rows: np.ndarray, count: int) -> np.ndarray:
    if not len(rows):
        raise ValueError("no candidate start states in the segment (episodes too short?)")
    return rng.choice(rows, size=count, replace=count > len(rows))


def _per_demo(dataset: Dataset, mask: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(mask[start:stop]) + start for start, stop in dataset.episode_bounds]


def _from_rows(dataset: Dataset, rows: np.ndarray) -> Starts:
    return np.asarray(dataset.observations[rows], np.float32), episode_of_rows(dataset)[rows]


def high_value_starts(dataset: Dataset, values: np.ndarray, top_k: float, per_episode: int,
                      rng: np.random.Generator, mask: np.ndarray) -> Starts:
    """``per_episode`` starts per demo from the demo's top-k share (by ``values``) of its ``mask`` rows."""
    rows = [_draw(rng, top_share(candidates, values, top_k), per_episode)
            for candidates in _per_demo(dataset, mask)]
    return _from_rows(dataset, np.concatenate(rows))


def uniform_starts(dataset: Dataset, per_episode: int, rng: np.random.Generator, mask: np.ndarray) -> Starts:
    """``per_episode`` starts per demo drawn uniformly from its ``mask`` rows."""
    return _from_rows(dataset, np.concatenate([_draw(rng, rows, per_episode) for rows in _per_demo(dataset, mask)]))


class GoalGAN:
    """A GAN over (M, obs_dim) goal states: generator z (B, noise_dim) → state (B, obs_dim) in normalised units,
    discriminator f(state) → logit (the shared :class:`Discriminator` with no action input)."""

    def __init__(self, states: np.ndarray, hidden: Sequence[int], lr: float, seed: int, noise_dim: int = 8) -> None:
        states = np.asarray(states, np.float64)
        self.mean = states.mean(axis=0)
        self.std = np.maximum(states.std(axis=0), STD_FLOOR)
        self.states = torch.as_tensor(states, dtype=torch.float32)
        self.noise_dim = noise_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.generator = mlp(noise_dim, states.shape[1], hidden)
            self.discriminator = Discriminator(states.shape[1], 0, self.mean, self.std, hidden, lr)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr)
        self.noise = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng([seed, 13])

    def _generate(self, count: int) -> torch.Tensor:
        z = torch.randn((count, self.noise_dim), generator=self.noise)
        return self.generator(z) * torch.as_tensor(self.std, dtype=torch.float32) + torch.as_tensor(
            self.mean, dtype=torch.float32)

    def train(self, steps: int, batch_size: int = 128) -> list[float]:
        """Alternate one discriminator and one generator (non-saturating, −log D(G(z))) update per step;
        returns the discriminator's classification loss per step."""
        nothing = torch.zeros((batch_size, 0))
        history = []
        for _ in range(steps):
            real = self.states[torch.as_tensor(self.rng.integers(0, len(self.states), size=batch_size))]
            loss, stats = self.discriminator.loss(real, nothing, self._generate(batch_size).detach(), nothing)
            self.discriminator.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.discriminator.optimizer.step()
            generator_loss = F.softplus(-self.discriminator(self._generate(batch_size), nothing)).mean()
            self.optimizer.zero_grad(set_to_none=True)
            generator_loss.backward()
            self.optimizer.step()
            history.append(stats["loss"])
        return history

    @torch.no_grad()
    def sample(self, count: int) -> np.ndarray:
        """(count, obs_dim) float32 generated states (observation units)."""
        return self._generate(count).numpy().astype(np.float32)

    def nearest(self, samples: np.ndarray) -> np.ndarray:
        """(B,) index into the training states of the nearest one to each of (B, obs_dim) ``samples``."""
        a, b = (np.asarray(x, np.float64) / self.std for x in (samples, self.states.numpy()))
        distances = (a ** 2).sum(1)[:, None] - 2 * a @ b.T + (b ** 2).sum(1)[None, :]
        return np.argmin(distances, axis=1)


def goal_gan_starts(dataset: Dataset, values: np.ndarray, top_k: float, count: int, mask: np.ndarray,
                    steps: int, hidden: Sequence[int], lr: float, decode: str, seed: int) -> tuple[Starts, GoalGAN]:
    """``count`` starts from a :class:`GoalGAN` trained (``steps`` updates) on each demo's top-k ``mask`` rows,
    decoded as ``decode`` says (see the module docstring); returns them and the GAN."""
    if decode not in GAN_DECODINGS:
        raise ValueError(f"decode must be one of {', '.join(GAN_DECODINGS)}, got {decode!r}")
    goals = np.concatenate([top_share(rows, values, top_k) for rows in _per_demo(dataset, mask)])
    if not len(goals):
        raise ValueError("no candidate start states in the segment (episodes too short?)")
    gan = GoalGAN(dataset.observations[goals], hidden, lr, seed)
    gan.train(steps)
    samples = gan.sample(count)
    nearest = goals[gan.nearest(samples)]
    states = np.asarray(dataset.observations[nearest], np.float32) if decode == "nearest" else samples
    return (states, episode_of_rows(dataset)[nearest]), gan

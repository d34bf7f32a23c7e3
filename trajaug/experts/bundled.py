"""Bundled expert actors: small deterministic MLP policies shipped as weight files inside the package.

Each file ``trajaug/experts/<env>.pt`` is a plain dict (loadable with ``torch.load(weights_only=True)``):
``{"env_id", "obs_dim", "act_dim", "hidden", "state_dict", "extra"}``. The actors were trained with
``trajaug datasets train-expert`` (stable-baselines3 SAC; :mod:`trajaug.experts.train`); the network is SAC's
mean head: ``obs → Linear-ReLU (×len(hidden)) → Linear → tanh``, actions in [-1, 1]. The dataset levels' actors
(``<env>-random.pt``, ``<env>-medium.pt``; :mod:`trajaug.experts.levels`) are in the same format with SAC's log-std
head as well.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trajaug.core.atomic import atomic_path
from trajaug.core.dataset import Dataset
from trajaug.core.envs import spec_for
from trajaug.core.errors import TrajaugInputError
from trajaug.core.nn import mlp, torch_threads
from trajaug.core.progress import start_phase
from trajaug.core.seeds import DATA_SEED_BASE
from trajaug.sim.rollout import Job, rollout

EXPERTS_DIR = Path(__file__).parent

BUILD_RECIPE = 2
"""How a dataset is rolled out from an actor, recorded in every build (a cache made by another recipe is stale).
1: float32 inference on the batch of running episodes, whose actions depended in the last bits on the batch size
and on the CPU's matrix kernels (so the same command built other demos on another machine); 2: each action is the
float64 network output rounded to float32, the same whatever the batch or the kernels (see :func:`expert_actions`)."""


LOG_STD_BOUNDS = (-20.0, 2.0)
"""SAC's clamp of the log standard deviation (stable-baselines3's ``LOG_STD_MIN``, ``LOG_STD_MAX``)."""


class ExpertActor(nn.Module):
    """Deterministic actor ``a = tanh(MLP(obs))``; input (..., obs_dim) float32, output (..., act_dim) in [-1, 1].

    With ``stochastic=True`` it also carries SAC's log-std head on the last hidden layer, so :meth:`sample` draws
    ``a = tanh(μ(s) + σ(s)·ε)`` as the SAC run explored (the medium-replay level is rolled out that way).
    """

    def __init__(self, env_id: str, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256),
                 stochastic: bool = False) -> None:
        super().__init__()
        self.env_id, self.obs_dim, self.act_dim, self.hidden = env_id, obs_dim, act_dim, tuple(hidden)
        self.net = mlp(obs_dim, act_dim, hidden)
        self.log_std = nn.Linear(hidden[-1], act_dim) if stochastic else None
        self.extra: dict[str, Any] = {}

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))

    def gaussian(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SAC's pre-tanh Gaussian at ``obs`` (..., obs_dim): ``(μ, log σ)``, each (..., act_dim), log σ clamped to
        :data:`LOG_STD_BOUNDS`; needs ``stochastic=True``."""
        if self.log_std is None:
            raise TrajaugInputError(f"the {self.env_id} actor has no log-std head (a deterministic actor)")
        latent = self.net[:-1](obs)
        return self.net[-1](latent), self.log_std(latent).clamp(*LOG_STD_BOUNDS)

    def sample(self, obs: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``tanh(μ + exp(clamp(log σ))·ε)`` for standard-normal ``eps`` (..., act_dim); needs ``stochastic=True``."""
        mean, log_std = self.gaussian(obs)
        return torch.tanh(mean + log_std.exp() * eps)


def save_actor(actor: ExpertActor, path: Path, extra: dict[str, Any] | None = None) -> None:
    """Write ``actor`` atomically to ``path`` (replacing it) in the bundled-expert format."""
    payload = {"env_id": actor.env_id, "obs_dim": actor.obs_dim, "act_dim": actor.act_dim,
               "hidden": list(actor.hidden), "state_dict": actor.state_dict(), "extra": dict(extra or {})}
    with atomic_path(path, force=True) as tmp:
        torch.save(payload, tmp)


def load_actor(path: Path) -> ExpertActor:
    """Load an actor written by :func:`save_actor` (``weights_only=True``)."""
    payload = torch.load(path, weights_only=True, map_location="cpu")
    actor = ExpertActor(payload["env_id"], payload["obs_dim"], payload["act_dim"], tuple(payload["hidden"]),
                        stochastic="log_std.weight" in payload["state_dict"])
    actor.load_state_dict(payload["state_dict"])
    actor.extra = payload["extra"]
    actor.eval()
    return actor


def bundled_actor_path(env_key: str) -> Path:
    """Path of the bundled actor of an environment key such as ``halfcheetah``."""
    return EXPERTS_DIR / f"{env_key}.pt"


def build_expert_dataset(env_id: str, actor: ExpertActor, episodes: int, seed: int = 0,
                         progress: Callable[[int], None] | None = None) -> Dataset:
    """Roll out the deterministic ``actor`` for ``episodes`` episodes (reset seeds ``DATA_SEED_BASE + seed·10⁴ + i``).

    Returns a dataset with qpos/qvel (float64) so every state can be restored exactly.
    """
    if actor.obs_dim != spec_for(env_id).obs_dim:
        raise TrajaugInputError(f"expert actor is for observations of size {actor.obs_dim}, {env_id} has "
                                f"{spec_for(env_id).obs_dim}")

    actor64 = copy.deepcopy(actor).double()

    def controller(jobs: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        return expert_actions(actor64, observations)

    jobs = [Job(seed=DATA_SEED_BASE + seed * 10_000 + i) for i in range(episodes)]
    start_phase(progress, f"{env_id}: expert episodes", episodes)
    with torch_threads(1):  # batches of ≤ 50 rows: one thread is fastest, and far faster on a busy machine
        _, transitions = rollout(env_id, jobs, controller, n_envs=min(episodes, 50), progress=progress)
    assert transitions is not None
    return Dataset(**transitions, metadata={
        "method": "expert", "seed": seed, "episodes": episodes,
        "expert": {"file": bundled_actor_path(spec_for(env_id).key).name, "recipe": BUILD_RECIPE, **actor.extra}})


def expert_actions(actor64: ExpertActor, observations: np.ndarray) -> np.ndarray:
    """Actions (n, act_dim) float32 of a float64 copy of an actor (``actor.double()``) for observations (n, obs_dim),
    rounded to float32 first as a dataset stores them.

    float32 matrix products round differently with the batch size and with the CPU's kernels (AVX-512 or AVX2, MKL's
    code path); computed in float64, those differences are ~1e-16 relative and vanish when the result is rounded to
    float32 (a float32 action changes only if the float64 one lies within that of a rounding boundary), so a row's
    action is the same alone, in any batch, on any x86 CPU.
    """
    with torch.no_grad():
        obs = torch.as_tensor(np.array(observations, dtype=np.float32), dtype=torch.float64)
        return actor64(obs).numpy().astype(np.float32)


def actor_sha256(env_id: str) -> str:
    """sha256 of the bundled actor file of ``env_id`` (recorded in built datasets to detect stale caches)."""
    return hashlib.sha256(bundled_actor_path(spec_for(env_id).key).read_bytes()).hexdigest()

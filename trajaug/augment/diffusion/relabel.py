"""Relabelling sampled transitions with the simulator (SynthER's ``relabel = "simulator"``).

A diffusion model samples whole transitions (s, a, r, s', terminal), and its s' and r are its own: nothing makes
them physical. Relabelling keeps the sampled (s, a), restores s in the simulator (:func:`states_from_observations`:
the positions the observation excludes set to 0, which the locomotion dynamics do not depend on), steps the action
once and takes the environment's own s', reward and termination in place of the sampled ones. The step is
:func:`trajaug.sim.rollout.step_states` (each row a fresh reset, then the restored state), so the values are
``env.step``'s — those ``trajaug datasets check --physics`` compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress, start_phase
from trajaug.sim.rollout import make_env, states_from_observations, step_states

RELABELS = ("none", "simulator")
"""``none``: keep the model's own s', r and terminal; ``simulator``: replace them by one simulator step."""


@dataclass(frozen=True)
class Relabelled:
    """The environment's own outcome of each (s, a): one row per transition."""

    next_observations: np.ndarray
    """(N, obs_dim) float64."""
    rewards: np.ndarray
    """(N,) float64, the v5 reward."""
    terminals: np.ndarray
    """(N,) bool, the v5 termination (never set on HalfCheetah)."""


def check_restorable(env_id: str) -> None:
    """Refuse a task whose states cannot be rebuilt from its observations (more than 2 excluded positions)."""
    env = make_env(env_id)
    model = env.unwrapped.model  # type: ignore[attr-defined]
    obs_dim = env.observation_space.shape[0]  # type: ignore[index]
    env.close()
    if model.nq + model.nv - obs_dim > 2:
        raise TrajaugInputError(f"--relabel simulator: {env_id} states cannot be rebuilt from observations")


def step_once(env_id: str, observations: np.ndarray, actions: np.ndarray,
              progress: Progress | None = None) -> Relabelled:
    """Restore each observation's state, apply its action (clipped to the action box) for one environment step,
    and return what the environment gives. ``progress`` is told of a phase of one unit per transition."""
    env = make_env(env_id)  # only to map observations to states
    qpos, qvel = states_from_observations(env, observations)
    env.close()
    start_phase(progress, "relabelling: transitions", len(observations))
    stepped = step_states(env_id, qpos, qvel, actions, progress=progress)
    return Relabelled(next_observations=stepped["next_observations"], rewards=stepped["rewards"],
                      terminals=stepped["terminals"])

"""Relabelling sampled transitions with the simulator (SynthER's ``relabel = "simulator"``).

A diffusion model samples whole transitions (s, a, r, s', terminal), and its s' and r are its own: nothing makes
them physical. Relabelling keeps the sampled (s, a), restores s in the simulator (:func:`state_from_observation`:
the positions the observation excludes set to 0, which the locomotion dynamics do not depend on), steps the action
once and takes the environment's own s', reward and termination in place of the sampled ones. The step is
:func:`trajaug.sim.rollout.rollout` with one-step jobs (each a fresh reset, then the restored state), so the values
are ``env.step``'s — those ``trajaug datasets check --physics`` compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trajaug.core.errors import TrajaugInputError
from trajaug.core.progress import Progress, start_phase
from trajaug.sim.rollout import Job, make_env, rollout, state_from_observation

RELABELS = ("none", "simulator")
"""``none``: keep the model's own s', r and terminal; ``simulator``: replace them by one simulator step."""
CHUNK = 50_000
"""Transitions stepped per :func:`rollout` call (bounded memory for millions of samples)."""


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
    start_phase(progress, "relabelling: transitions", len(observations))
    parts = []
    for start in range(0, len(observations), CHUNK):
        chunk = np.arange(start, min(start + CHUNK, len(observations)))
        states = (state_from_observation(env, np.asarray(observations[row], np.float64)) for row in chunk)
        jobs = [Job(seed=0, qpos=qpos, qvel=qvel, max_steps=1) for qpos, qvel in states]

        def controller(job_ids: np.ndarray, steps: np.ndarray, _: np.ndarray, chunk: np.ndarray = chunk,
                       ) -> np.ndarray:
            return np.asarray(actions[chunk[job_ids]], np.float64)

        _, stepped = rollout(env_id, jobs, controller, n_envs=64, progress=progress)
        assert stepped is not None and len(stepped["rewards"]) == len(chunk)  # one step per job, in job order
        parts.append(stepped)
    env.close()
    return Relabelled(next_observations=np.concatenate([p["next_observations"] for p in parts]),
                      rewards=np.concatenate([p["rewards"] for p in parts]),
                      terminals=np.concatenate([p["terminals"] for p in parts]))

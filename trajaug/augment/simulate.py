"""Executing actions in the simulator from the demos' own starts: what noise, mixup and the adversarial generator
share (each demo's initial state restored from its qpos/qvel, or rebuilt from its first observation)."""

from __future__ import annotations

import numpy as np

from trajaug.core.dataset import Dataset
from trajaug.core.progress import Progress, start_phase
from trajaug.sim.rollout import Controller, Job, make_env, rollout, state_from_observation


def demo_start_jobs(demos: Dataset, episode_indices: list[int], seed: int,
                    max_steps: list[int] | None = None, from_reset: bool = False) -> list[Job]:
    """Jobs that start the simulator in each listed demo's initial state and run for the demo's length
    (or ``max_steps[k]`` steps for job k); ``from_reset``: in a fresh reset of the task instead (seeded per job).

    The state comes from the demo's qpos/qvel when stored, else it is rebuilt from the first observation.
    """
    assert demos.env_id is not None
    env = make_env(demos.env_id)
    bounds = demos.episode_bounds
    jobs = []
    for k, index in enumerate(episode_indices):
        start, stop = (int(v) for v in bounds[index])
        qpos: np.ndarray | None = None
        qvel: np.ndarray | None = None
        if from_reset:
            pass  # the rollout resets the task with the job's seed
        elif demos.qpos is not None and demos.qvel is not None:
            qpos, qvel = demos.qpos[start], demos.qvel[start]
        else:
            qpos, qvel = state_from_observation(env, demos.observations[start])
        steps = stop - start if max_steps is None else int(max_steps[k])
        jobs.append(Job(seed=seed * 1_000_003 + k, qpos=qpos, qvel=qvel, max_steps=steps))
    return jobs


def execute_from_demos(demos: Dataset, job_demos: list[int], controller: Controller, seed: int,
                       progress: Progress | None = None, max_steps: list[int] | None = None,
                       from_reset: bool = False, label: str = "trajectories") -> Dataset:
    """Run one simulator episode per entry of ``job_demos``, each from that demo's initial state (or a fresh reset,
    ``from_reset``) for the demo's length (or ``max_steps``, or until the task terminates), with actions from
    ``controller(jobs, steps, observations)``.

    Returns the executed trajectories (simulator rewards, qpos/qvel) with ``source_episode`` = the demo index.
    ``progress`` is told of a phase ``label`` of one unit per trajectory.
    """
    assert demos.env_id is not None
    jobs = demo_start_jobs(demos, job_demos, seed, max_steps, from_reset)
    start_phase(progress, label, len(jobs))
    _, executed = rollout(demos.env_id, jobs, controller, n_envs=64, progress=progress)
    assert executed is not None
    executed["source_episode"] = np.asarray(job_demos, np.int32)[executed["source_episode"]]
    return Dataset(**executed)


def demo_action_table(demos: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(actions (N, act_dim) float64, episode start rows (n_episodes,)) so that demo d's action at step t is
    ``actions[starts[d] + t]``."""
    return demos.actions.astype(np.float64), demos.episode_bounds[:, 0].copy()

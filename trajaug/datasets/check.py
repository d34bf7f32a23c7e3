"""Dataset validation: structural checks (:func:`check_dataset`) and a one-step physics check (:func:`physics_check`).

The physics check restores each stored state ``s_t`` in the simulator, applies ``a_t`` once, and compares the
result with the stored ``s_{t+1}``. One step, never an open-loop replay: MuJoCo locomotion is chaotic, so replayed
episodes drift far from the data even when every single transition is exact. Simulator-made data stored as float32
shows one-step errors of about 1e-7 to 1e-4; corrupted or physically impossible transitions show far more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trajaug.core.dataset import Dataset
from trajaug.core.envs import EnvSpec, spec_for
from trajaug.core.errors import TrajaugInputError

CONTINUITY_TOLERANCE = 1e-5
"""Max abs difference allowed between ``next_observations[t]`` and ``observations[t+1]`` inside an episode."""
ACTION_BOUND = 1.0
"""The action box of the supported v5 locomotion tasks is ``[-1, 1]^act_dim``."""


# -- structure -------------------------------------------------------------------------------------------------------
def check_dataset(dataset: Dataset, env_id: str | None = None) -> list[str]:
    """Structural problems of ``dataset`` as one-line messages; an empty list means none were found.

    Checks: known environment and matching obs/act sizes (``env_id`` overrides ``dataset.env_id``), dtypes, finite
    values, every episode closed by a terminal or timeout, episodes no longer than the time limit,
    ``next_observations[t] == observations[t+1]`` inside episodes (within :data:`CONTINUITY_TOLERANCE`), actions
    inside ``[-1, 1]``, and qpos/qvel agreeing with the observations when present.
    """
    problems: list[str] = []
    if len(dataset) == 0:
        return ["dataset is empty (0 transitions)"]
    spec = _spec(env_id or dataset.env_id, problems)
    if spec is not None and env_id is not None and dataset.env_id is not None:
        try:
            if spec_for(dataset.env_id).key != spec.key:
                problems.append(f"dataset says its environment is {dataset.env_id}, checked against {env_id}")
        except TrajaugInputError:
            pass
    if spec is not None:
        if dataset.obs_dim != spec.obs_dim:
            problems.append(f"observations have {dataset.obs_dim} dimensions, {spec.env_id} has {spec.obs_dim}")
        if dataset.act_dim != spec.act_dim:
            problems.append(f"actions have {dataset.act_dim} dimensions, {spec.env_id} has {spec.act_dim}")
    problems += _dtype_problems(dataset)
    problems += _finite_problems(dataset)
    problems += _episode_problems(dataset, spec)
    problems += _continuity_problems(dataset)
    if spec is not None:
        magnitude = np.abs(dataset.actions)
        if (magnitude > ACTION_BOUND).any():
            problems.append(f"{int((magnitude > ACTION_BOUND).any(axis=1).sum())} action row(s) outside the action "
                            f"box [-{ACTION_BOUND:g}, {ACTION_BOUND:g}] (max |a| = {float(magnitude.max()):.4g})")
    problems += _state_problems(dataset)
    return problems


def _spec(env_id: str | None, problems: list[str]) -> EnvSpec | None:
    if env_id is None:
        problems.append("no environment id: observation/action sizes and the action box were not checked")
        return None
    try:
        return spec_for(env_id)
    except TrajaugInputError as error:
        problems.append(str(error))
        return None


def _dtype_problems(dataset: Dataset) -> list[str]:
    expected = {"observations": np.float32, "next_observations": np.float32, "actions": np.float32,
                "rewards": np.float32, "terminals": np.bool_, "timeouts": np.bool_, "qpos": np.float64,
                "qvel": np.float64}
    problems = []
    for name, dtype in expected.items():
        array = getattr(dataset, name)
        if array is not None and array.dtype != dtype:
            problems.append(f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}")
    return problems


def _finite_problems(dataset: Dataset) -> list[str]:
    problems = []
    for name in ("observations", "next_observations", "actions", "rewards", "qpos", "qvel"):
        array = getattr(dataset, name)
        if array is None:
            continue
        bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if bad.any():
            problems.append(f"{name}: {int(bad.sum())} row(s) with NaN or inf (first at row {int(np.argmax(bad))})")
    return problems


def _episode_problems(dataset: Dataset, spec: EnvSpec | None) -> list[str]:
    problems = []
    n = len(dataset)
    if not (dataset.terminals[-1] or dataset.timeouts[-1]):
        start = int(dataset.episode_bounds[-1, 0])
        problems.append(f"the last {n - start} row(s) (rows {start}..{n - 1}) have no terminal or timeout: "
                        "unfinished episode")
    if spec is not None:
        from trajaug.sim.rollout import max_episode_steps

        limit = max_episode_steps(spec.env_id)
        lengths = dataset.episode_lengths()
        if (lengths > limit).any():
            problems.append(f"{int((lengths > limit).sum())} episode(s) longer than the time limit of {limit} steps "
                            f"(longest {int(lengths.max())}): missing timeouts?")
    return problems


def _continuity_problems(dataset: Dataset) -> list[str]:
    gaps = continuity_gaps(dataset)
    bad = gaps > CONTINUITY_TOLERANCE
    if not bad.any():
        return []
    return [f"next_observations differ from the following observations in {int(bad.sum())} row(s) inside "
            f"episodes (beyond {CONTINUITY_TOLERANCE:g}; max difference {float(gaps.max()):.4g}, first at row "
            f"{int(np.argmax(bad))})"]


def continuity_gaps(dataset: Dataset) -> np.ndarray:
    """(N,) float64 ``max |next_observations[t] − observations[t+1]|`` for rows inside an episode; 0 at episode ends."""
    gaps = np.zeros(len(dataset))
    if len(dataset) > 1:
        diff = np.abs(dataset.next_observations[:-1].astype(np.float64) - dataset.observations[1:]).max(axis=1)
        gaps[:-1] = diff
    gaps[dataset.episode_bounds[:, 1] - 1] = 0.0
    return gaps


def _state_problems(dataset: Dataset) -> list[str]:
    """qpos/qvel against the observations, which are ``[qpos[k:], qvel]`` for the supported tasks."""
    if dataset.qpos is None or dataset.qvel is None:
        return []
    nq, nv = dataset.qpos.shape[1], dataset.qvel.shape[1]
    excluded = nq + nv - dataset.obs_dim
    if not 0 <= excluded <= 2:
        return [f"qpos ({nq}) and qvel ({nv}) do not fit observations of size {dataset.obs_dim}"]
    state = np.concatenate([dataset.qpos[:, excluded:], dataset.qvel], axis=1)
    bad = ~np.isclose(state, dataset.observations, rtol=1e-6, atol=CONTINUITY_TOLERANCE).all(axis=1)
    if bad.any():
        return [f"qpos/qvel disagree with the observations in {int(bad.sum())} row(s) "
                f"(first at row {int(np.argmax(bad))})"]
    return []


# -- physics ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhysicsReport:
    """One-step dynamics errors of a dataset: error of a transition = ``max_i |sim(s_t, a_t)_i − s_{t+1,i}|``
    (observation units); the relative error divides each dimension by the dataset's std of that observation
    dimension (floored at 1e-6, 1 for constant dimensions) before the max."""

    env_id: str
    checked: int
    """Transitions simulated (all, or a random subsample of ``max_transitions``)."""
    state_source: str
    """``qpos/qvel`` (stored simulator state) or ``observation`` (rebuilt with ``sim.state_from_observation``)."""
    threshold: float
    mean: float
    median: float
    p95: float
    max: float
    relative_mean: float
    relative_median: float
    relative_p95: float
    share_above_threshold: float
    """Share of checked transitions whose (absolute) error exceeds ``threshold``."""

    @property
    def above_threshold(self) -> int:
        return int(round(self.share_above_threshold * self.checked))


def physics_check(dataset: Dataset, threshold: float = 1e-2, max_transitions: int | None = None, seed: int = 0,
                  env_id: str | None = None) -> PhysicsReport:
    """Simulate every transition (or ``max_transitions`` of them drawn with ``seed``) one step and summarise the
    dynamics errors (see :class:`PhysicsReport`). ``env_id`` overrides ``dataset.env_id``."""
    rows = np.arange(len(dataset))
    if max_transitions is not None and max_transitions < len(dataset):
        if max_transitions < 1:
            raise TrajaugInputError(f"max_transitions must be at least 1, got {max_transitions}")
        rows = np.sort(np.random.default_rng(seed).choice(len(dataset), size=max_transitions, replace=False))
    env_id = _require_env(dataset, env_id)
    diff = np.abs(simulate_next(dataset, rows, env_id) - dataset.next_observations[rows])
    std = dataset.observations.astype(np.float64).std(axis=0) if len(dataset) else np.ones(dataset.obs_dim)
    scale = np.where(std > 0, np.maximum(std, 1e-6), 1.0)
    errors = diff.max(axis=1) if len(rows) else np.zeros(0)
    relative = (diff / scale).max(axis=1) if len(rows) else np.zeros(0)

    def stat(values: np.ndarray, q: float | None = None) -> float:
        if not len(values):
            return float("nan")
        return float(np.mean(values) if q is None else np.percentile(values, q))

    return PhysicsReport(env_id=env_id, checked=len(rows),
                         state_source="qpos/qvel" if dataset.qpos is not None else "observation",
                         threshold=threshold, mean=stat(errors), median=stat(errors, 50), p95=stat(errors, 95),
                         max=stat(errors, 100), relative_mean=stat(relative), relative_median=stat(relative, 50),
                         relative_p95=stat(relative, 95),
                         share_above_threshold=float(np.mean(errors > threshold)) if len(rows) else float("nan"))


def dynamics_errors(dataset: Dataset, rows: Sequence[int] | np.ndarray, env_id: str | None = None) -> np.ndarray:
    """(len(rows),) float64 one-step error ``max |sim(s_t, a_t) − next_observations[t]|`` of the given rows."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if not len(rows):
        return np.zeros(0)
    predicted = simulate_next(dataset, rows, _require_env(dataset, env_id))
    return np.abs(predicted - dataset.next_observations[rows]).max(axis=1)


def simulate_next(dataset: Dataset, rows: np.ndarray, env_id: str) -> np.ndarray:
    """(len(rows), obs_dim) float64 observation reached from each row's state ``s_t`` by its action ``a_t``.

    ``s_t`` is ``(qpos[t], qvel[t])`` when the dataset has them, else rebuilt from ``observations[t]``; the step is
    :func:`trajaug.sim.rollout.step_states`, so results do not depend on the order or the subset of rows.
    """
    from trajaug.sim.rollout import make_env, states_from_observations, step_states

    spec = spec_for(env_id)
    if dataset.obs_dim != spec.obs_dim or dataset.act_dim != spec.act_dim:
        raise TrajaugInputError(f"dataset has observations/actions of size {dataset.obs_dim}/{dataset.act_dim}, "
                                f"{env_id} has {spec.obs_dim}/{spec.act_dim}")
    env = make_env(env_id)
    model = env.unwrapped.model  # type: ignore[attr-defined]
    if dataset.qpos is not None and dataset.qvel is not None and (
            dataset.qpos.shape[1] != model.nq or dataset.qvel.shape[1] != model.nv):
        env.close()
        raise TrajaugInputError(f"dataset has qpos/qvel of size {dataset.qpos.shape[1]}/{dataset.qvel.shape[1]}, "
                                f"{env_id} has {model.nq}/{model.nv}")
    if dataset.qpos is not None and dataset.qvel is not None:
        qpos, qvel = dataset.qpos[rows].astype(np.float64), dataset.qvel[rows].astype(np.float64)
    else:
        qpos, qvel = states_from_observations(env, dataset.observations[rows])
    env.close()
    return step_states(env_id, qpos, qvel, dataset.actions[rows].astype(np.float64))["next_observations"]


def _require_env(dataset: Dataset, env_id: str | None) -> str:
    env_id = env_id or dataset.env_id
    if env_id is None:
        raise TrajaugInputError("the physics check needs an environment id (the dataset names none: pass --env-id)")
    return env_id


@dataclass(frozen=True)
class ReplayReport:
    """Open-loop replay of each episode's own actions from its restored initial state.

    Exact (0) for data made in the same simulator with stored float64 qpos/qvel; for D4RL v2 files made with
    mujoco-py, or states rebuilt from float32 observations, the first steps are close and later ones drift, since
    MuJoCo locomotion is chaotic (reference §7: ≈ 5e-5 after one step, ≈ 20 after 1000).
    """

    env_id: str
    episodes: int
    state_source: str
    first_step_error: float
    """Max over episodes of the observation error after one step."""
    final_error_median: float
    """Median over episodes of the max observation error over the whole replay."""
    final_error_max: float
    return_difference_max: float
    """Max over episodes of |replayed return − stored return|."""


def replay_check(dataset: Dataset, episodes: int | None = None, env_id: str | None = None) -> ReplayReport:
    """Replay the first ``episodes`` episodes (default all) open loop and compare observations and returns."""
    from trajaug.sim.rollout import Job, make_env, rollout, state_from_observation

    env_id = _require_env(dataset, env_id)
    count = dataset.n_episodes if episodes is None else min(episodes, dataset.n_episodes)
    bounds = dataset.episode_bounds[:count]
    env = make_env(env_id)
    jobs = []
    for start, stop in bounds:
        if dataset.qpos is not None and dataset.qvel is not None:
            qpos, qvel = dataset.qpos[start], dataset.qvel[start]
        else:
            qpos, qvel = state_from_observation(env, dataset.observations[start].astype(np.float64))
        jobs.append(Job(seed=0, qpos=qpos, qvel=qvel, max_steps=int(stop - start)))
    env.close()
    starts = bounds[:, 0]

    def controller(job_ids: np.ndarray, steps: np.ndarray, observations: np.ndarray) -> np.ndarray:
        return dataset.actions[starts[job_ids] + steps].astype(np.float64)

    returns, replayed = rollout(env_id, jobs, controller, n_envs=min(count, 32))
    assert replayed is not None
    first, final = [], []
    replay_starts = np.concatenate([[0], np.cumsum(np.bincount(replayed["source_episode"], minlength=count))])
    for k, (start, stop) in enumerate(bounds):
        length = min(stop - start, replay_starts[k + 1] - replay_starts[k])
        ours = replayed["next_observations"][replay_starts[k]: replay_starts[k] + length]
        theirs = dataset.next_observations[start: start + length]
        errors = np.abs(ours - theirs).max(axis=1)
        first.append(errors[0])
        final.append(errors.max())
    stored = dataset.episode_returns()[:count]
    return ReplayReport(env_id=env_id, episodes=count,
                        state_source="qpos/qvel" if dataset.qpos is not None else "observation",
                        first_step_error=float(np.max(first)), final_error_median=float(np.median(final)),
                        final_error_max=float(np.max(final)),
                        return_difference_max=float(np.abs(returns - stored).max()))

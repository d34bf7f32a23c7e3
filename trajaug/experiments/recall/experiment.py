"""``trajaug recall fourroom``: the Four-Room experiment of recall traces (Goyal et al., ICLR 2019, Alg. 1, §5.1).

Every agent of :data:`~trajaug.experiments.recall.agents.AGENTS` (actor-critic, + recall traces with the true
backtracking model, + recall traces with a learned one, + prioritized replay) is trained with every seed for the
same number of environment steps; every ``eval_every`` steps the exact success probability of its current
stochastic policy (its expected undiscounted return, reward 1 at the goal) is recorded. Outputs in ``out_dir``:

* ``curves.csv`` / ``curves.json`` — one row per agent × seed × evaluation point (steps, success, train_success);
  the JSON also holds the per-run summary and the table rows;
* ``runs.csv`` — one row per agent × seed: steps to the threshold (empty if never), final success, wall time;
* ``results.md`` — the table: steps-to-threshold per agent (mean ± 95% CI over the seeds that reached it),
  converged seeds, final success, steps to the baseline's final success, and the ratio baseline / agent;
* ``reward_vs_steps.png`` — mean success vs steps with 95% CI bands over seeds;
  ``visits_<agent>.png`` — state-visitation heatmaps summed over seeds, counted until each run first
  reached the threshold (the paper's Figs. 2–4 style: what the agent explored while learning);
* ``config.json`` — the resolved config.

An existing ``out_dir`` holding any of these is refused unless ``force``; every file is written atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trajaug.core.atomic import OutputExistsError
from trajaug.core.config import write_config
from trajaug.experiments.recall.agents import RunResult, train_agent
from trajaug.experiments.recall.config import FourRoomConfig
from trajaug.experiments.recall.fourroom import FourRoom
from trajaug.experiments.recall.summary import OUTPUT_FILES, steps_to, write_outputs


def run_fourroom(config: FourRoomConfig, out_dir: str | Path, force: bool = False,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every agent × seed, write the outputs (see the module docstring) and return the JSON record
    (``config``, ``runs``, ``table``, ``curves``, ``wall_s``). ``progress`` receives one line per event."""
    config.validate()
    out = Path(out_dir)
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not force:
        raise OutputExistsError(f"{out}: already holds results ({existing[0]}; use --force to overwrite)")
    env = FourRoom(config.size, config.episode_steps(), config.slip)
    say = progress or (lambda line: None)
    say(f"Four-Room {config.size}×{config.size}: {env.n_states} states, shortest path {env.shortest_path_length()}"
        f" steps, timeout {env.max_episode_steps}; {config.total_steps} steps × seeds {config.seed_list()}")
    started = time.perf_counter()
    results: list[RunResult] = []
    for agent in config.agent_list():
        for seed in config.seed_list():
            every = max(config.total_steps // 4, config.eval_every)

            def on_eval(step: int, success: float, agent: str = agent, seed: int = seed, every: int = every) -> None:
                if step and step % every < config.eval_every:
                    say(f"  {agent} seed {seed}: {step:>9} steps, success {success:.3f}")
            run = train_agent(agent, env, config, seed, on_eval)
            reached = steps_to(run.steps, run.success, config.threshold)
            say(f"{agent} seed {seed}: final success {run.success[-1]:.3f}, threshold {config.threshold} at "
                f"{reached if reached is not None else 'never'} steps ({run.wall_s:.1f} s)")
            results.append(run)
    record = write_outputs(config, env, results, out, time.perf_counter() - started)
    write_config(config, out / "config.json", extra={"resolved": {
        "max_episode_steps": env.max_episode_steps, "n_states": env.n_states,
        "shortest_path": env.shortest_path_length(), "seeds": config.seed_list(), "agents": config.agent_list()}})
    return record

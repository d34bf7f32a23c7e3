"""Tables and figures of the Four-Room experiment (:mod:`trajaug.experiments.recall.experiment`).

Per run: *steps to threshold* is the first evaluation step at which the exact success probability reaches
``config.threshold`` (None: not converged within the budget); *final success* is the mean over the last
:data:`FINAL_POINTS` evaluation points. Per agent, the table gives the mean ± 95% CI (Student t, over the seeds that
converged) of the steps to threshold, the number of converged seeds, the final success, and the steps to reach the
baseline's (``ac``) mean final success. The ratio baseline / agent divides the baseline's mean steps to threshold
by the agent's, both *censored* at the budget (a seed that never converged counts as the last evaluation step), so
the ratio is marked "≥" when only the baseline has unconverged seeds (a lower bound), "≤" when only the agent has,
and "~" when both have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.report import _png, format_mean_ci, markdown_table, mean_ci95, write_csv, write_json, write_markdown
from trajaug.experiments.recall.agents import RunResult
from trajaug.experiments.recall.config import FourRoomConfig
from trajaug.experiments.recall.fourroom import FourRoom

FINAL_POINTS = 5
"""Evaluation points averaged into a run's final success."""
BASELINE_TOLERANCE = 0.01
"""Reaching "the baseline's final success" means reaching it minus this (the curves approach 1 asymptotically)."""
BASELINE = "ac"
LABELS = {"ac": "Actor-Critic", "recall-true": "AC + recall traces (true model)",
          "recall-learned": "AC + recall traces (learned model)", "per": "AC + PER"}
OUTPUT_FILES = ("curves.csv", "curves.json", "runs.csv", "results.md", "reward_vs_steps.png", "config.json")
"""The fixed output names (``visits_<agent>.png`` come in addition); any of them present means "has results"."""


def steps_to(steps: Sequence[int], success: Sequence[float], level: float) -> int | None:
    """The first evaluation step at which ``success`` ≥ ``level`` (None if never)."""
    for step, value in zip(steps, success, strict=True):
        if value >= level - 1e-12:
            return int(step)
    return None


def final_success(run: RunResult) -> float:
    return float(np.mean(run.success[-FINAL_POINTS:]))


def run_rows(config: FourRoomConfig, results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per run: agent, seed, steps_to_threshold, converged, final_success, steps_to_baseline_final, …"""
    base = [final_success(r) for r in results if r.agent == BASELINE]
    target = float(np.mean(base)) - BASELINE_TOLERANCE if base else None
    rows = []
    for run in results:
        reached = steps_to(run.steps, run.success, config.threshold)
        after = None if reached is None or run.first_reward is None else max(reached - run.first_reward, 0)
        rows.append({"agent": run.agent, "seed": run.seed, "steps_to_threshold": reached,
                     "converged": reached is not None, "first_reward": run.first_reward,
                     "steps_after_first_reward": after, "final_success": final_success(run),
                     "steps_to_baseline_final": None if target is None else steps_to(run.steps, run.success, target),
                     "budget": run.steps[-1], "episodes": run.episodes, "wall_s": round(run.wall_s, 2)})
    return rows


def _censored_mean(rows: Sequence[dict[str, Any]]) -> float:
    return float(np.mean([r["steps_to_threshold"] if r["converged"] else r["budget"] for r in rows]))


def table_rows(config: FourRoomConfig, runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per agent (in run order) with the statistics described in the module docstring."""
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for row in runs:
        by_agent.setdefault(row["agent"], []).append(row)
    base = by_agent.get(BASELINE)
    table = []
    for agent, rows in by_agent.items():
        reached = [float(r["steps_to_threshold"]) for r in rows if r["converged"]]
        to_base = [float(r["steps_to_baseline_final"]) for r in rows if r["steps_to_baseline_final"] is not None]
        mean, ci = mean_ci95(reached)
        final_mean, final_ci = mean_ci95([r["final_success"] for r in rows])
        base_mean, base_ci = mean_ci95(to_base)
        first_mean, first_ci = mean_ci95([float(r["first_reward"]) for r in rows if r["first_reward"] is not None])
        after_mean, after_ci = mean_ci95([float(r["steps_after_first_reward"]) for r in rows
                                          if r["steps_after_first_reward"] is not None])
        ratio, qualifier, ratio_after = None, "", None
        if base is not None:
            ratio = _censored_mean(base) / _censored_mean(rows)
            base_after = [r["steps_after_first_reward"] for r in base if r["steps_after_first_reward"] is not None]
            if base_after and after_mean > 0:
                ratio_after = float(np.mean(base_after)) / after_mean
            base_open, own_open = not all(r["converged"] for r in base), not all(r["converged"] for r in rows)
            qualifier = {(True, False): "≥ ", (False, True): "≤ ", (True, True): "~ "}.get((base_open, own_open), "")
        table.append({"agent": agent, "label": LABELS.get(agent, agent), "seeds": len(rows),
                      "converged": len(reached), "steps_to_threshold_mean": mean, "steps_to_threshold_ci95": ci,
                      "steps_to_threshold_censored_mean": _censored_mean(rows), "ratio_baseline_over_agent": ratio,
                      "ratio_after_first_reward": ratio_after,
                      "ratio_qualifier": qualifier.strip(), "final_success_mean": final_mean,
                      "final_success_ci95": final_ci, "steps_to_baseline_final_mean": base_mean,
                      "steps_to_baseline_final_ci95": base_ci, "reached_baseline_final": len(to_base),
                      "first_reward_mean": first_mean, "first_reward_ci95": first_ci,
                      "steps_after_first_reward_mean": after_mean, "steps_after_first_reward_ci95": after_ci})
    return table


def results_markdown(config: FourRoomConfig, env: FourRoom, table: Sequence[dict[str, Any]], wall_s: float) -> str:
    """The Markdown results: a header with the setting and the table (steps in thousands)."""
    def k(value: float | None) -> float | None:
        return None if value is None else value / 1000

    to_final = f"steps to AC's final success − {BASELINE_TOLERANCE:g} (k)"
    rows = [{"Agent": r["label"], "converged": f"{r['converged']}/{r['seeds']}",
             f"steps to {config.threshold:g} (k)": format_mean_ci(k(r["steps_to_threshold_mean"]),
                                                                  k(r["steps_to_threshold_ci95"])),
             "ratio AC / agent": "–" if r["ratio_baseline_over_agent"] is None else
             f"{r['ratio_qualifier']} {r['ratio_baseline_over_agent']:.2f}".strip(),
             "first reward at (k)": format_mean_ci(k(r["first_reward_mean"]), k(r["first_reward_ci95"])),
             "first reward → threshold (k)": format_mean_ci(k(r["steps_after_first_reward_mean"]),
                                                           k(r["steps_after_first_reward_ci95"])),
             "ratio AC / agent after first reward": "–" if r["ratio_after_first_reward"] is None else
             f"{r['ratio_after_first_reward']:.2f}",
             "final success": format_mean_ci(r["final_success_mean"], r["final_success_ci95"], 3),
             to_final: format_mean_ci(k(r["steps_to_baseline_final_mean"]), k(r["steps_to_baseline_final_ci95"]))
             + f" ({r['reached_baseline_final']}/{r['seeds']})"} for r in table]
    seeds = config.seed_list()
    return (f"# Four-Room {config.size}×{config.size}: recall traces vs actor-critic vs PER\n\n"
            f"{env.n_states} states, shortest path {env.shortest_path_length()} steps, timeout "
            f"{env.max_episode_steps} steps, slip {config.slip}; {config.total_steps} environment steps per run, "
            f"seeds {seeds[0]}–{seeds[-1]}; success = exact probability that the current stochastic policy "
            f"reaches the goal within the timeout, evaluated every {config.eval_every} steps. Steps to threshold: "
            f"mean ± 95% CI over the converged seeds; the ratio uses means censored at the budget. Before its "
            f"first reward an agent has nothing to recall, and all agents of a seed share the environment/action "
            f"random stream, so they explore identically until then; 'first reward → threshold' is the learning "
            f"phase after it. "
            f"Wall time {wall_s / 60:.1f} min.\n\n" + markdown_table(rows))


def curve_rows(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    return [{"agent": run.agent, "seed": run.seed, "steps": step, "success": success, "train_success": train}
            for run in results
            for step, success, train in zip(run.steps, run.success, run.train_success, strict=True)]


def plot_curves(config: FourRoomConfig, results: Sequence[RunResult], path: Path) -> Path:
    """Mean success vs steps per agent with a 95% CI band over seeds."""
    reached = [steps_to(r.steps, r.success, config.threshold) for r in results]
    converged = [step for step in reached if step is not None]
    budget = results[0].steps[-1]
    right = min(budget, 2 * max(converged)) if len(converged) == len(reached) and max(converged) > 0 else budget
    with _png(path, (6.5, 4.2)) as ax:
        for agent in dict.fromkeys(r.agent for r in results):
            runs = [r for r in results if r.agent == agent]
            curves = np.array([r.success for r in runs])
            stats = [mean_ci95(curves[:, j]) for j in range(curves.shape[1])]
            mean = np.array([m for m, _ in stats])
            ci = np.nan_to_num(np.array([c for _, c in stats]), nan=0.0)
            x = np.array(runs[0].steps) / 1000
            ax.plot(x, mean, label=f"{LABELS.get(agent, agent)} (n={len(runs)})", linewidth=1.4)
            ax.fill_between(x, np.clip(mean - ci, 0, 1), np.clip(mean + ci, 0, 1), alpha=0.2)
        ax.axhline(config.threshold, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("environment steps (thousands)")
        ax.set_ylabel("success probability (expected return)")
        ax.set_title(f"Four-Room {config.size}×{config.size}: mean over seeds, 95% CI", fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, right / 1000)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return path


def plot_visits(env: FourRoom, visits: np.ndarray, path: Path, title: str) -> Path:
    """A heatmap of state-visitation counts on the grid (log colour scale; walls white; S start, G goal)."""
    from matplotlib.colors import LogNorm

    grid = np.full(env.walls.shape, np.nan)
    grid[env.cells[:, 0], env.cells[:, 1]] = visits + 1
    with _png(path, (4.6, 4.0)) as ax:
        image = ax.imshow(grid, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(float(np.nanmax(grid)), 2.0)))
        ax.figure.colorbar(image, ax=ax, label="visits + 1")
        for state, text in ((env.start, "S"), (env.goal, "G")):
            row, col = env.coords(state)
            ax.text(col, row, text, ha="center", va="center", color="red", fontsize=9, fontweight="bold")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    return path


def write_outputs(config: FourRoomConfig, env: FourRoom, results: Sequence[RunResult], out: Path,
                  wall_s: float) -> dict[str, Any]:
    """Write every output but ``config.json`` into ``out`` (atomically, replacing) and return the JSON record."""
    runs = run_rows(config, results)
    table = table_rows(config, runs)
    curves = curve_rows(results)
    record = {"config": dataclasses.asdict(config), "runs": runs, "table": table, "curves": curves,
              "wall_s": wall_s}
    write_csv(curves, out / "curves.csv")
    write_csv(runs, out / "runs.csv")
    write_json(record, out / "curves.json")
    write_markdown(results_markdown(config, env, table, wall_s), out / "results.md")
    plot_curves(config, results, out / "reward_vs_steps.png")
    for agent in dict.fromkeys(r.agent for r in results):
        runs_of = [r for r in results if r.agent == agent]
        visits = np.sum([r.visits_learning for r in runs_of], axis=0)
        plot_visits(env, visits, out / f"visits_{agent}.png",
                    f"{LABELS.get(agent, agent)}\nvisits until success ≥ {config.threshold:g}, "
                    f"{len(runs_of)} seeds, {int(visits.sum())} steps")
    return record

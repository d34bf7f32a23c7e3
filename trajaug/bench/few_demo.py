"""``trajaug bench few-demo``: BC return vs number of demos for BC on demos, on CAT alone, and on demos + CAT.

For each demo count N (default 1, 3, 7) and seed k: CAT (or ``--method``, any seed-table row such as
``cat:execution_noise=0.1``) is fitted on the first N demos (seed k) and samples ``per_episode`` trajectories per
demo; three BC rows are trained with the same BC and budget — the N demos alone, the augmented set alone, and the
augmented set plus the N demos — and each is evaluated on
``eval_episodes`` episodes under standard and perturbed (σ = 0.1 action noise) evaluation. Perturbed evaluation is
where few-demo BC has room to improve (reference §1 note). Resumable like the seed table (same folder layout).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajaug.bc.batch import run_cells
from trajaug.bc.grid import Cell
from trajaug.bc.train import BCConfig
from trajaug.bench.seed_table import QUICK, SeedTableConfig, machine, run_augmentations
from trajaug.executors import Executor, executor_for
from trajaug.report import (
    format_mean_ci,
    line_chart_ci,
    markdown_table,
    mean_ci95,
    write_csv,
    write_json,
    write_markdown,
)

ROWS = ("demos", "augmented", "demos+augmented")
"""Row keys: BC on the demos, on the augmented set alone, on both."""


def row_names(method: str) -> dict[str, str]:
    """Row key → the label tables and figures show (``cat`` is spelled CAT; an ablation ``cat:key=value…`` is
    "CAT (ablation)", its settings are written above the table)."""
    base, _, overrides = method.partition(":")
    label = ("CAT" if base == "cat" else base) + (" (ablation)" if overrides else "")
    return dict(zip(ROWS, ("BC on demos", f"BC on {label}", f"BC on demos + {label}"), strict=True))


@dataclass(frozen=True)
class FewDemoConfig:
    dataset: str = "hopper-expert"
    """Dataset name or D4RL file the demos come from."""
    demo_counts: tuple[int, ...] = (1, 3, 7)
    """Numbers of demos N (the first N episodes)."""
    seeds: int = 3
    """Seeds first_seed..first_seed+N-1."""
    first_seed: int = 0
    """First seed (choose settings on other seeds than the reported ones)."""
    method: str = "cat"
    """Augmentation: a seed-table row (``cat``, ``gail``, …) or an ablation ``METHOD:key=value[:key=value…]``."""
    per_episode: int = 71
    """CAT trajectories per demo."""
    bc_steps: int = BCConfig.steps
    """BC updates of every row."""
    eval_episodes: int = 100
    """Evaluation episodes per policy and noise level."""
    action_noise: tuple[float, ...] = (0.0, 0.1)
    """Evaluation noise levels σ."""
    quick: bool = False
    """Tiny budgets for a smoke check."""
    drop_terminated: bool = False
    """Drop augmented trajectories that ended in a terminal state (a fall) before BC (as ``datasets filter``)."""
    generators_from: str = ""
    """Folder of an earlier few-demo run of the same method: sample each set from the generator it kept for it
    (e.g. more trajectories with ``per_episode``) instead of training one; "": train."""


def run_few_demo(config: FewDemoConfig, out_dir: str | Path, executor: Executor | None = None,
                 workers: int | None = None, progress: Callable[[int], None] | None = None,
                 ship_data: bool = False) -> dict[str, Any]:
    """Run (or resume) the grid; writes few_demo.{csv,json,md} and one PNG per noise level."""
    out = Path(out_dir)
    started = time.perf_counter()
    if config.quick:  # the quick profile's budgets, where the caller kept the defaults
        defaults = FewDemoConfig()
        config = dataclasses.replace(config, **{k: v for k, v in QUICK.items()
                                                if getattr(config, k) == getattr(defaults, k)})
    table_configs = {n: SeedTableConfig(dataset=config.dataset, demos=n, seeds=config.seeds, rows=(config.method,),
                                        per_episode=config.per_episode, bc_steps=config.bc_steps,
                                        eval_episodes=config.eval_episodes, quick=config.quick,
                                        generators_from=config.generators_from)
                     for n in config.demo_counts}
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    with executor_for(executor, workers) as pool:
        augmented: dict[tuple[int, int], dict[str, Any]] = {}
        for n, table_config in table_configs.items():
            made = run_augmentations([(config.method, seed) for seed in seeds], out, table_config, pool, progress,
                                     ship_data)
            for (_, seed), made_summary in made.items():
                if "error" in made_summary:
                    raise RuntimeError(f"{config.method} on {n} demos, seed {seed}: {made_summary['error']}")
                augmented[(n, seed)] = made_summary
        cells: list[tuple[str, int, Cell]] = []
        for n in config.demo_counts:
            for seed in seeds:
                augmented_file = augmented[(n, seed)]["output"]
                if config.drop_terminated:
                    augmented_file = without_terminated(Path(augmented_file))
                budget = Cell(config.dataset, seed, steps=config.bc_steps, eval_episodes=config.eval_episodes)
                for noise in config.action_noise:
                    cells += [("demos", n, dataclasses.replace(budget, episodes=n, action_noise=noise)),
                              ("augmented", n, dataclasses.replace(budget, dataset=augmented_file,
                                                                   action_noise=noise)),
                              ("demos+augmented", n, dataclasses.replace(budget, dataset=augmented_file,
                                                                   with_expert=config.dataset, expert_episodes=n,
                                                                   action_noise=noise))]
        result = run_cells([cell for *_, cell in cells], out, pool, progress=progress, ship_data=ship_data)
    rows = [{**r, "row": row, "demos": n} for (row, n, _), r in zip(cells, result.rows, strict=True)]
    summary = _summarize(rows, config)
    for entry in summary:  # the augmented set's own statistics beside the rows trained on it
        if entry["row"] != "demos":
            entry.update(_set_statistics([augmented[(entry["demos"], seed)] for seed in seeds]))
    record = {"config": dataclasses.asdict(config), "machine": machine(), "summary": summary, "cells": rows,
              "wall_seconds": time.perf_counter() - started}
    files = {"csv": write_csv(summary, out / "few_demo.csv"), "json": write_json(record, out / "few_demo.json")}
    names = row_names(config.method)
    lines = [{"demos": s["demos"], "row": names[s["row"]], "σ": s["action_noise"],
              "BC return (mean ± 95% CI)": format_mean_ci(s["return_mean"], s["return_ci95"]),
              "× BC on demos": s["ratio_to_demos"], "seeds": s["seeds"],
              "set transitions": _text(s.get("set_transitions"), "{:.0f}"),
              "set dynamics error p95": _text(s.get("set_dynamics_error_p95"), "{:.1e}"),
              "trace length / budget": (f"{s['set_trace_length']:.2f} / {s['set_trace_budget']:.2f}"
                                        if s.get("set_trace_length") is not None else "–"),
              "refused steps": _text(s.get("set_refused_share"), "{:.0%}"),
              "reward error": _text(s.get("set_reward_error"), "{:.2f}")} for s in summary]
    files["md"] = write_markdown(f"# Few-demo BC: {config.dataset}\n\nAugmentation: `{config.method}`\n\n"
                                 + markdown_table(lines), out / "few_demo.md")
    for noise in config.action_noise:
        series = {}
        for row, name in names.items():
            points = [s for s in summary if s["row"] == row and s["action_noise"] == noise]
            series[name] = ([s["return_mean"] for s in points], [s["return_ci95"] for s in points])
        files[f"png_noise{noise:g}"] = line_chart_ci(
            list(config.demo_counts), series, out / f"few_demo_noise{noise:g}.png", xlabel="demos",
            ylabel="BC return", title=f"{Path(config.dataset).stem}, evaluation σ = {noise:g}")
    return {"summary": summary, "files": files, "failed_cells": result.failed}


SET_STATISTICS = {"set_transitions": "transitions", "set_dynamics_error_p95": "dynamics_error_p95",
                  "set_trace_length": "sample_trace_length_mean", "set_trace_budget": "sample_trace_budget_mean",
                  "set_refused_share": "sample_refused_share", "set_reward_error": "sample_reward_error_mean"}
"""Column → key of an augmented set's summary (trace keys: backtracking methods; reward error: synther)."""


def _set_statistics(summaries: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean over seeds of each :data:`SET_STATISTICS` value (None where the sets do not report it)."""
    means: dict[str, float | None] = {}
    for column, key in SET_STATISTICS.items():
        values = [s[key] for s in summaries if s.get(key) is not None]
        means[column] = float(sum(values) / len(values)) if values else None
    return means


def _text(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


def without_terminated(path: Path) -> str:
    """The path of ``path``'s copy without the episodes that ended in a terminal state (``<stem>.no-falls.hdf5``,
    made once, here in the driver)."""
    from trajaug.datasets.d4rl import read_d4rl, write_d4rl
    from trajaug.datasets.filter import drop_terminated

    target = path.with_name(path.stem + ".no-falls.hdf5")
    if not target.is_file():
        write_d4rl(drop_terminated(read_d4rl(path))[0], target, force=True)
    return str(target)


def _summarize(rows: list[dict[str, Any]], config: FewDemoConfig) -> list[dict[str, Any]]:
    summary = []
    for n in config.demo_counts:
        for noise in config.action_noise:
            by_row: dict[str, dict[str, Any]] = {}
            for row in ROWS:
                ok = [r["return_mean"] for r in rows if r["row"] == row and r["demos"] == n
                      and r["action_noise"] == noise and r.get("status") == "ok"]
                mean, ci = mean_ci95(ok)
                by_row[row] = {"demos": n, "action_noise": noise, "row": row, "return_mean": mean,
                               "return_ci95": ci, "seeds": len(ok)}
            base = by_row["demos"]["return_mean"]
            for entry in by_row.values():
                entry["ratio_to_demos"] = entry["return_mean"] / base if base else None
            summary += list(by_row.values())
    return summary

"""``trajaug bench few-demo``: BC return vs number of demos for BC on demos, on CAT alone, and on demos + CAT.

For each demo count N (default 1, 3, 7) and seed k: CAT (or ``--method``, any seed-table row such as
``cat:execution_noise=0.1``) is fitted on the first N demos (seed k) and samples ``per_episode`` trajectories per
demo; three BC rows are trained with the same BC and budget — the N demos alone, the augmented set alone, and the
augmented set plus the N demos — and each is evaluated on
``eval_episodes`` episodes under standard and perturbed (σ = 0.1 action noise) evaluation. Perturbed evaluation is
where few-demo BC has room to improve (reference §1 note). Resumable like the seed table (same folder layout). The
95% CIs are over seeds; with one seed (``make demo``), over that seed's evaluation episodes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trajaug.bc.batch import run_cells
from trajaug.bc.grid import Cell
from trajaug.core.report import (
    format_mean_ci,
    line_chart_ci,
    markdown_table,
    mean_ci95,
    write_csv,
    write_json,
    write_markdown,
)
from trajaug.executors import Executor, executor_for
from trajaug.experiments.bench.config import FewDemoConfig, resolve_quick
from trajaug.experiments.bench.seed_table import cells_beside, machine, run_augmentations

ROWS = ("demos", "augmented", "demos+augmented")
"""Row keys: BC on the demos, on the augmented set alone, on both."""


def row_names(method: str) -> dict[str, str]:
    """Row key → the label tables and figures show (``cat`` is spelled CAT; ``cat:total_steps=102400`` is
    "CAT (total_steps=102400)")."""
    base, _, overrides = method.partition(":")
    label = ("CAT" if base == "cat" else base) + (f" ({overrides.replace(':', ', ')})" if overrides else "")
    return dict(zip(ROWS, ("BC on demos", f"BC on {label}", f"BC on demos + {label}"), strict=True))


def run_few_demo(config: FewDemoConfig, out_dir: str | Path, executor: Executor | None = None,
                 workers: int | None = None, progress: Callable[[int], None] | None = None,
                 ship_data: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Run (or resume) the grid; writes few_demo.{csv,json,md} and one PNG per noise level. ``device``: where the
    augmentations' networks and BC train (a run option: not in the config)."""
    out = Path(out_dir)
    started = time.perf_counter()
    config = resolve_quick(config)
    table_configs = {n: config.table_config(n) for n in config.demo_counts}
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    budgets = {seed: Cell(config.dataset, seed, steps=config.bc_steps, eval_episodes=config.eval_episodes)
               for seed in seeds}
    demo_cells = {(n, seed, noise): dataclasses.replace(budgets[seed], episodes=n, action_noise=noise)
                  for n in config.demo_counts for seed in seeds for noise in config.action_noise}
    beside = list(demo_cells.values()) if "demos" in config.bc_rows else []
    with executor_for(executor, workers) as pool:
        augmented: dict[tuple[int, int], dict[str, Any]] = {}
        with cells_beside(beside, out, pool, ship_data, device):  # BC on the demos waits for no set
            for n, table_config in table_configs.items():
                made = run_augmentations([(config.method, seed) for seed in seeds], out, table_config, pool,
                                         progress, ship_data, label=f"augmented sets on {n} demos", device=device)
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
                for noise in config.action_noise:
                    row_cells = {"demos": demo_cells[(n, seed, noise)],
                                 "augmented": dataclasses.replace(budgets[seed], dataset=augmented_file,
                                                                  action_noise=noise),
                                 "demos+augmented": dataclasses.replace(budgets[seed], dataset=augmented_file,
                                                                        with_expert=config.dataset,
                                                                        expert_episodes=n, action_noise=noise)}
                    cells += [(row, n, row_cells[row]) for row in ROWS if row in config.bc_rows]
        result = run_cells([cell for *_, cell in cells], out, pool, progress=progress, ship_data=ship_data,
                           device=device)
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
    unused = {key for key in lines[0] if all(line[key] == "–" for line in lines)}  # columns no row reports
    lines = [{k: v for k, v in line.items() if k not in unused} for line in lines]
    spread = ("over the evaluation episodes of the one seed" if config.seeds == 1
              else f"over seeds {seeds[0]}–{seeds[-1]}")
    files["md"] = write_markdown(f"# Few-demo BC: {config.dataset}\n\nAugmentation: `{config.method}`; "
                                 f"95% CI {spread}.\n\n" + markdown_table(lines), out / "few_demo.md")
    for noise in config.action_noise:
        series = {}
        for row, name in ((r, names[r]) for r in ROWS if r in config.bc_rows):
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
    from trajaug.datasets.filter import drop_terminated
    from trajaug.storage.d4rl import read_d4rl, write_d4rl

    target = path.with_name(path.stem + ".no-falls.hdf5")
    if not target.is_file():
        write_d4rl(drop_terminated(read_d4rl(path))[0], target, force=True)
    return str(target)


def _summarize(rows: list[dict[str, Any]], config: FewDemoConfig) -> list[dict[str, Any]]:
    summary = []
    for n in config.demo_counts:
        for noise in config.action_noise:
            by_row: dict[str, dict[str, Any]] = {}
            for row in (r for r in ROWS if r in config.bc_rows):
                ok = [r for r in rows if r["row"] == row and r["demos"] == n
                      and r["action_noise"] == noise and r.get("status") == "ok"]
                mean, ci = mean_ci95([r["return_mean"] for r in ok])
                if len(ok) == 1:  # one seed: the CI over its evaluation episodes
                    ci = ok[0]["return_ci95"]
                by_row[row] = {"demos": n, "action_noise": noise, "row": row, "return_mean": mean,
                               "return_ci95": ci, "seeds": len(ok)}
            base = by_row["demos"]["return_mean"] if "demos" in by_row else None
            for entry in by_row.values():
                entry["ratio_to_demos"] = entry["return_mean"] / base if base else None
            summary += list(by_row.values())
    return summary

"""The offline-RL benchmark's tables and figures, from its run rows (one per dataset × row × algorithm × seed).

* ``offrl_<part>.md``: per dataset, row and algorithm the mean ± 95% Student-t CI over seeds
  (:func:`~trajaug.core.report.group_mean_ci`), then per row and algorithm the IQM over datasets × seeds with its
  stratified-bootstrap 95% CI (:func:`~trajaug.core.stats.group_iqm`: runs resampled within each dataset, 2000
  replicates); both for the **final** evaluation (after the last update) and the **best** point of each run's
  learning curve (optimistic: it picks the maximum over the curve), per evaluated σ;
* ``offrl_<part>.csv`` (the per-dataset table), ``offrl_<part>_iqm.csv``, ``offrl_<part>_runs.csv`` (every run)
  and ``offrl_<part>.json`` (all of it, with the config, the machine and the synthetic sets' summaries);
* ``offrl_<part>_iqm.png`` (the final IQM per row and algorithm at the first σ, with its interval) and
  ``offrl_<part>_curves_<dataset>[_<algo>].png`` (learning curves: mean ± 95% CI over seeds at each update).

Scores are D4RL normalized scores where every finished run has one, else returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.report import (
    bar_chart_interval,
    format_mean_ci,
    group_mean_ci,
    line_chart_ci,
    markdown_table,
    mean_ci95,
    write_csv,
    write_json,
    write_markdown,
)
from trajaug.core.stats import BOOTSTRAP_REPS, group_iqm
from trajaug.datasets.cells import slug
from trajaug.experiments.bench.config import FULL_ROW, SUBSET_ROW, OffRLBenchConfig
from trajaug.offrl.batch import sigma_key

WHEN = ("final", "best")


def row_label(row: str, config: OffRLBenchConfig) -> str:
    """How a row is shown: ``subset (15%)``, ``subset + synther``, ``full dataset (ceiling)``, ``whole dataset``."""
    if row == SUBSET_ROW:
        return f"subset ({config.subset:.0%})"
    if row == FULL_ROW:
        return "full dataset (ceiling)"
    return "whole dataset" if row == "whole" else f"subset + {row}"


def score_kind(runs: list[dict[str, Any]], keys: list[str]) -> str:
    """``normalized`` where every finished run has a normalized final score at every σ, else ``return``."""
    finished = [run for run in runs if run["ok"]]
    return "normalized" if all(run.get(f"final_normalized_{k}") is not None for run in finished
                               for k in keys) else "return"


def _interval(point: float, low: float, high: float) -> str:
    return "–" if not np.isfinite(point) else f"{point:.1f} [{low:.1f}, {high:.1f}]"


def write_report(runs: list[dict[str, Any]], record: dict[str, Any], config: OffRLBenchConfig,
                 out: Path, note: str = "") -> dict[str, Path]:
    """Write the tables and figures of one part (see the module docstring); returns kind → path. ``note``: Markdown
    appended to the tables. A run's curve is read from ``<its source or out>/cells/<id>/curve.json``."""
    keys = [sigma_key(sigma) for sigma in config.action_noise]
    kind = score_kind(runs, keys)
    values = [f"{when}_{kind}_{k}" for k in keys for when in WHEN]
    per_task = group_mean_ci(runs, ("dataset", "row", "algo"), values, where="ok")
    aggregate = group_iqm(runs, ("row", "algo"), "dataset", values, where="ok")
    prefix = out / f"offrl_{config.part}"
    sigmas = list(zip(config.action_noise, keys, strict=True))
    lines = [{"dataset": slug(s["dataset"]), "row": row_label(s["row"], config), "algo": s["algo"],
              "seeds ok": f"{s['n']}/{s['n_rows']}",
              **{f"{when} σ={sigma:g}": format_mean_ci(s[f"{when}_{kind}_{k}_mean"], s[f"{when}_{kind}_{k}_ci95"])
                 for sigma, k in sigmas for when in WHEN},
              **_set_columns(runs, s)} for s in per_task]
    iqm_lines = [{"row": row_label(a["row"], config), "algo": a["algo"], "runs (datasets)": f"{a['runs']} "
                  f"({a['tasks']})", **{f"{when} σ={sigma:g}": _interval(a[f"{when}_{kind}_{k}_iqm"],
                                                                      a[f"{when}_{kind}_{k}_iqm_low"],
                                                                      a[f"{when}_{kind}_{k}_iqm_high"])
                                        for sigma, k in sigmas for when in WHEN}} for a in aggregate]
    text = _header(record, config, kind) + markdown_table(lines) + (
        f"\n## Aggregate: IQM over datasets × seeds\n\nInterquartile mean of the runs' scores (the middle 50%), "
        f"[95% stratified-bootstrap CI] ({BOOTSTRAP_REPS} resamples of the runs within each dataset).\n\n"
        + markdown_table(iqm_lines))
    paired = paired_differences(runs, values)
    if paired:
        text += ("\n## Paired differences\n\nEach row minus its baseline on the same dataset and seed (the same "
                 "subset; a relabelled row shares its base row's sampled states and actions), mean over the pairs "
                 "± 95% Student-t CI; `higher`: pairs where the row scored above its baseline (final, first σ).\n\n"
                 + markdown_table([{"row − baseline": f"{p['row']} − {p['baseline']}", "algo": p["algo"],
                                    "pairs": p["pairs"], **{f"{when} σ={sigma:g}": format_mean_ci(
                                        p[f"{when}_{kind}_{k}_mean"], p[f"{when}_{kind}_{k}_ci95"])
                                        for sigma, k in sigmas for when in WHEN},
                                    "higher": f"{p['higher']}/{p['pairs']}"} for p in paired]))
    failed = [{"dataset": run["dataset"], "row": run["row"], "algo": run["algo"], "seed": run["seed"],
               "error": "; ".join(str(e) for e in run["errors"])} for run in runs if not run["ok"]]
    if failed:
        text += "\n## Failed runs\n\n" + markdown_table(failed)
    text += note
    flat = [{**run, "cell_ids": ";".join(run["cell_ids"]), "errors": "; ".join(map(str, run["errors"]))}
            for run in runs]
    files = {"md": write_markdown(text, prefix.with_suffix(".md")),
             "json": write_json({**record, "score": kind, "per_dataset": per_task, "iqm": aggregate,
                                 "paired": paired, "runs": runs}, prefix.with_suffix(".json")),
             "csv": write_csv(per_task, prefix.with_suffix(".csv")),
             "iqm_csv": write_csv(aggregate, out / f"{prefix.name}_iqm.csv"),
             "runs_csv": write_csv(flat, out / f"{prefix.name}_runs.csv")}
    first, measure = f"final_{kind}_{keys[0]}", "D4RL normalized score" if kind == "normalized" else "return"
    files["iqm_png"] = bar_chart_interval(
        [f"{row_label(a['row'], config)} · {a['algo']}" for a in aggregate], [a[f"{first}_iqm"] for a in aggregate],
        [a[f"{first}_iqm_low"] for a in aggregate], [a[f"{first}_iqm_high"] for a in aggregate],
        out / f"{prefix.name}_iqm.png", ylabel=f"IQM of the final {measure} (σ = {config.action_noise[0]:g})",
        title=f"{config.part}: IQM over datasets × seeds (95% CI)")
    files.update(_curves(runs, config, kind, out, prefix.name))
    return files


def compute_seconds(runs: Iterable[dict[str, Any]], sets: Iterable[dict[str, Any]]) -> float:
    """What the runs (``wall_s``) and the synthetic sets (``wall_seconds``) took when they were made, in seconds."""
    return sum(run.get("wall_s") or 0.0 for run in runs) + sum(made.get("wall_seconds") or 0.0 for made in sets)


def baseline_of(row: str, rows: list[str]) -> str | None:
    """The row a row is paired with: an ablation ``METHOD:key=value`` with its method's row where that is in the
    table (``synther:relabel=simulator`` with ``synther``: same seed, same sampled (s, a)); any other augmentation
    row with ``subset``; ``subset`` and ``full`` with none."""
    if row in (SUBSET_ROW, FULL_ROW, "whole"):
        return None
    method = row.split(":")[0]
    if method != row and method in rows:
        return method
    return SUBSET_ROW if SUBSET_ROW in rows else None


def paired_differences(runs: list[dict[str, Any]], values: list[str]) -> list[dict[str, Any]]:
    """Per row with a baseline (:func:`baseline_of`) and algorithm: the differences row − baseline of each value
    over the (dataset, seed) pairs both finished, as ``<value>_mean`` and ``<value>_ci95`` (Student-t), with
    ``pairs`` and ``higher`` (pairs where the row's first value is above the baseline's)."""
    done = {(run["dataset"], run["row"], run["algo"], run["seed"]): run for run in runs if run["ok"]}
    rows = list(dict.fromkeys(run["row"] for run in runs))
    out = []
    for row in rows:
        baseline = baseline_of(row, rows)
        for algo in dict.fromkeys(run["algo"] for run in runs if run["row"] == row):
            pairs = [(done[key], done[(key[0], baseline, algo, key[3])]) for key in done
                     if key[1:3] == (row, algo) and (key[0], baseline, algo, key[3]) in done]
            if baseline is None or not pairs:
                continue
            summary: dict[str, Any] = {"row": row, "baseline": baseline, "algo": algo, "pairs": len(pairs),
                                       "higher": sum(a[values[0]] > b[values[0]] for a, b in pairs)}
            for value in values:
                summary[f"{value}_mean"], summary[f"{value}_ci95"] = mean_ci95([a[value] - b[value] for a, b in pairs])
            out.append(summary)
    return out


def _header(record: dict[str, Any], config: OffRLBenchConfig, kind: str) -> str:
    seeds = record["seeds"]
    contiguous = list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    which = (f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}" if contiguous
             else "seeds " + ", ".join(map(str, seeds)))
    what = ("BC (the same number of updates), TD3+BC and IQL on each whole dataset" if config.part == "sanity" else
            f"TD3+BC and IQL on a {config.subset:.0%} subset of each dataset (whole episodes drawn with the seed); "
            f"`subset + X`: with X's synthetic set, made from that subset, in every minibatch ({config.real_ratio:g} "
            "of it real); `full dataset`: the ceiling")
    return (f"# Offline RL benchmark: {config.part}\n\n{what}. {config.updates} updates per run, evaluated every "
            f"{config.eval_every} updates and after the last on {config.eval_episodes} episodes; {which}. "
            f"{'D4RL normalized score' if kind == 'normalized' else 'Return'}: the final evaluation and the best "
            "point of each run's curve, mean over seeds ± 95% Student-t CI.\n\n")


def _set_columns(runs: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, str]:
    """The synthetic set's size and one-step dynamics error p95 (mean over seeds) of an augmentation row."""
    if not any(run["part"] == "augmentation" for run in runs):
        return {}
    made = [run for run in runs if (run["dataset"], run["row"], run["algo"]) ==
            (summary["dataset"], summary["row"], summary["algo"]) and run.get("set_transitions") is not None]
    sizes, errors = ([float(run[key]) for run in made if run.get(key) is not None]
                     for key in ("set_transitions", "set_dynamics_error_p95"))
    return {"set transitions": f"{np.mean(sizes):.0f}" if sizes else "–",
            "set dynamics error p95": f"{np.mean(errors):.1e}" if errors else "–"}


def _curves(runs: list[dict[str, Any]], config: OffRLBenchConfig, kind: str, out: Path,
            prefix: str) -> dict[str, Path]:
    """One learning-curve figure per dataset (sanity: a line per algorithm) or per dataset and algorithm
    (augmentation: a line per row), at the first σ; BC has no curve."""
    sigma = config.action_noise[0]
    figures: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = {}
    for run in runs:
        curve = _curve(out, run, sigma, kind) if run["ok"] and run["algo"] != "bc" else None
        if curve is None:
            continue
        sanity = config.part == "sanity"
        figure = figures.setdefault((run["dataset"], "" if sanity else run["algo"]), {})
        series = figure.setdefault(run["algo"] if sanity else row_label(run["row"], config), {})
        for step, score in curve:
            series.setdefault(step, []).append(score)
    files = {}
    for (dataset, algo), by_name in figures.items():
        steps = sorted({step for points in by_name.values() for step in points})
        lines = {name: ([mean_ci95(points.get(step, []))[0] for step in steps],
                        [mean_ci95(points.get(step, []))[1] for step in steps]) for name, points in by_name.items()}
        name = f"{prefix}_curves_{slug(dataset)}" + (f"_{algo}" if algo else "")
        files[name] = line_chart_ci(steps, lines, out / f"{name}.png", xlabel="updates",
                                    ylabel=f"{'D4RL normalized score' if kind == 'normalized' else 'return'} "
                                    f"(σ = {sigma:g})", title=f"{slug(dataset)} {algo}: mean ± 95% CI over seeds")
    return files


def _curve(out: Path, run: dict[str, Any], sigma: float, kind: str) -> list[tuple[int, float]] | None:
    """(update, score) of a finished offline-RL run's curve at σ (``cells/<id>/curve.json`` in the run's
    ``source`` folder, else in ``out``), None if absent."""
    path = Path(run.get("source", out)) / "cells" / run["cell_ids"][0] / "curve.json"
    if not path.is_file():
        return None
    points = json.loads(path.read_text())["points"]
    found = [(p["step"], e[f"{kind}_mean"]) for p in points for e in p["evals"] if e["action_noise"] == sigma]
    return [(step, float(score)) for step, score in found if score is not None]

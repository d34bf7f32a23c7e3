"""``trajaug recall sac``: SAC vs SAC + recall traces (buffer starts, Goal GAN starts) over seeds, resumable.

Layout of ``OUT``::

    OUT/config.json                    the resolved experiment config
    OUT/runs/<variant>-seed<k>.json    one run's evaluation curve and recall statistics (written last: resume marker)
    OUT/sac_recall.{csv,json,md,png}   curves (mean ± 95% CI over seeds per evaluation step), table, plot

Variants: ``sac`` (no recall rounds), ``sac+recall`` (Alg. 2 starts from the top-valued buffer states) and
``sac+recall-gan`` (Goal GAN starts). Every variant runs the same seeds with the same SAC settings.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.report import (
    format_mean_ci,
    json_bytes,
    line_chart_ci,
    markdown_table,
    mean_ci95,
    write_csv,
    write_json,
    write_markdown,
)
from trajaug.executors import CellOutput, Executor, executor_for, write_cell_files
from trajaug.experiments.recall.sac_recall import SACRecallConfig, run_sac

VARIANTS = {"sac": None, "sac+recall": "buffer", "sac+recall-gan": "goal-gan"}
"""Variant → recall start mode (None: plain SAC)."""


@dataclass(frozen=True)
class SACExperimentConfig:
    sac: SACRecallConfig = field(default_factory=SACRecallConfig)
    """The SAC and recall settings shared by every run."""
    seeds: int = 3
    """Seeds 0..N-1."""
    variants: tuple[str, ...] = tuple(VARIANTS)
    """Variants to run (see the module docstring)."""


def run_one(job: tuple[str, int], config: SACExperimentConfig) -> CellOutput:
    """One (variant, seed) run; returns its record and its file ``runs/<variant>-seed<k>.json``."""
    variant, seed = job
    start = VARIANTS[variant]
    sac_config = dataclasses.replace(config.sac, start=start) if start else config.sac
    record = {"variant": variant, **run_sac(sac_config, seed, recall=start is not None)}
    return CellOutput(record, ((f"runs/{variant}-seed{seed}.json", json_bytes(record)),))


def run_sac_experiment(config: SACExperimentConfig, out_dir: str | Path, executor: Executor | None = None,
                       workers: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) every (variant, seed); writes the curves, the table and the plot; returns the summary."""
    unknown = [v for v in config.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    out = Path(out_dir)
    write_json(dataclasses.asdict(config), out / "config.json")
    jobs = [(variant, seed) for variant in config.variants for seed in range(config.seeds)]
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for job in jobs:
        path = out / "runs" / f"{job[0]}-seed{job[1]}.json"
        if path.is_file():
            records[job] = json.loads(path.read_text())
    todo = [job for job in jobs if job not in records]
    with executor_for(executor, workers) as pool:
        for job, outcome in pool.map_unordered(functools.partial(run_one, config=config), todo):
            if isinstance(outcome, BaseException):
                raise outcome
            write_cell_files(out, outcome.files)
            records[job] = outcome.value
            if progress is not None:
                progress(1)
    return write_results([records[job] for job in jobs], config, out)


def steps_to_threshold(curve: list[dict[str, float]], threshold: float) -> float | None:
    """First evaluation step whose return reaches ``threshold`` (None if never)."""
    return next((point["steps"] for point in curve if point["return"] >= threshold), None)


def write_results(records: list[dict[str, Any]], config: SACExperimentConfig, out: Path) -> dict[str, Any]:
    """Curves (mean ± CI per step), table (final return, area under the curve, steps to the threshold = 90% of
    plain SAC's mean final return), plot."""
    curves: list[dict[str, Any]] = []
    series: dict[str, tuple[list[float], list[float]]] = {}
    steps = [p["steps"] for p in records[0]["curve"]]
    for variant in config.variants:
        runs = [r for r in records if r["variant"] == variant]
        means, cis = [], []
        for i, step in enumerate(steps):
            mean, ci = mean_ci95([r["curve"][i]["return"] for r in runs])
            curves.append({"variant": variant, "steps": step, "return_mean": mean, "return_ci95": ci,
                           "seeds": len(runs)})
            means.append(mean)
            cis.append(ci)
        series[variant] = (means, cis)
    baseline = [r["curve"][-1]["return"] for r in records if r["variant"] == "sac"]
    threshold = 0.9 * float(np.mean(baseline)) if baseline else None
    table = []
    for variant in config.variants:
        runs = [r for r in records if r["variant"] == variant]
        final = mean_ci95([r["curve"][-1]["return"] for r in runs])
        area = mean_ci95([float(np.mean([p["return"] for p in r["curve"]])) for r in runs])
        reached = [steps_to_threshold(r["curve"], threshold) for r in runs] if threshold is not None else []
        hit = [s for s in reached if s is not None]
        table.append({"variant": variant, "seeds": len(runs),
                      "final return": format_mean_ci(*final), "mean return over the run": format_mean_ci(*area),
                      "reached threshold": f"{len(hit)}/{len(runs)}",
                      "steps to threshold (mean of seeds that reached it)": format_mean_ci(*mean_ci95(hit), 0)
                      if hit else "–",
                      "_final": final[0], "_area": area[0], "_steps": float(np.mean(hit)) if hit else None})
    text = (f"# SAC ± recall traces on {config.sac.env_id}\n\n{config.sac.total_steps} environment steps, "
            f"{config.seeds} seeds, {config.sac.eval_episodes} evaluation episodes every {config.sac.eval_every} "
            f"steps; threshold = 90% of plain SAC's mean final return"
            + (f" = {threshold:.1f}" if threshold is not None else "") + ".\n\n"
            + markdown_table([{k: v for k, v in row.items() if not k.startswith("_")} for row in table]))
    files = {"csv": write_csv(curves, out / "sac_recall.csv"),
             "json": write_json({"config": dataclasses.asdict(config), "threshold": threshold, "table": table,
                                 "curves": curves, "runs": records}, out / "sac_recall.json"),
             "md": write_markdown(text, out / "sac_recall.md"),
             "png": line_chart_ci(steps, series, out / "sac_recall.png", xlabel="environment steps",
                                  ylabel="evaluation return",
                                  title=f"{config.sac.env_id}: mean ± 95% CI over {config.seeds} seeds")}
    return {"table": table, "threshold": threshold, "files": files}

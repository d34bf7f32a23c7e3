"""The seed table's summary and files: one row per method (augmented sets' statistics, BC return mean ± 95% CI over
seeds, the slides' reference columns) written as seed_table.csv / .json / .md / .png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.report import (
    bar_chart_ci,
    format_mean_ci,
    markdown_table,
    mean_ci95,
    write_csv,
    write_json,
    write_markdown,
)
from trajaug.experiments.bench.config import WITH_DEMOS, SeedTableConfig, set_row

SLIDES_DEMO_RETURN = 2439.8
"""The slides' 7 demos' own return: their shares are over it."""
REFERENCE = {  # the slides' HalfCheetah table (reference §1): (augmented return, BC return)
    "demos": (SLIDES_DEMO_RETURN, 991.3), "cat": (2221.1, 2906.3), "noise": (1172.9, 1341.5), "mixup": (1124.8, 1240.5),
    "bdm": (None, 319.1), "bdm-cl": (None, 1095.6)}


def summarize(rows: list[str], seeds: list[int], config: SeedTableConfig,
              augmented: dict[tuple[str, int], dict[str, Any]], bc_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per table row: augmented-set statistics, BC return per noise level (mean ± 95% CI over seeds)."""
    table = []
    for row in rows:
        made = {s: augmented[(set_row(row), s)] for s in seeds if row != "demos"}
        aug = [a for a in made.values() if "error" not in a]
        entry: dict[str, Any] = {"row": row, "bc_uses_expert": row == "demos" or row.endswith(WITH_DEMOS)}
        if row == "demos":
            demo_returns = [r["data_return_mean"] for r in bc_rows if r["row"] == "demos" and r.get("status") == "ok"]
            entry.update(trajectories=config.demos, augmented_return=_mean(demo_returns))
        else:
            entry.update(trajectories=_mean([a["trajectories"] for a in aug]),
                         augmented_return=_mean([a["augmented_return_mean"] for a in aug]),
                         dynamics_error_p95=_mean([a["dynamics_error_p95"] for a in aug]),
                         augment_wall_s=_mean([a["wall_seconds"] for a in aug]),
                         transitions=_mean([a.get("transitions") for a in aug]),
                         # backtracking rows: realised trace length, its budget, the share of refused steps
                         trace_length=_mean([a.get("sample_trace_length_mean") for a in aug]),
                         trace_budget=_mean([a.get("sample_trace_budget_mean") for a in aug]),
                         refused_share=_mean([a.get("sample_refused_share") for a in aug]),
                         # transition models (synther): sampled reward against the reward formula on (s, a, s')
                         reward_error=_mean([a.get("sample_reward_error_mean") for a in aug]),
                         augment_errors=[a["error"] for a in made.values() if "error" in a])
        for noise in config.action_noise:
            ok = [r for r in bc_rows if r["row"] == row and r["action_noise"] == noise and r.get("status") == "ok"]
            mean, ci = mean_ci95([r["return_mean"] for r in ok])
            score, score_ci = mean_ci95([r["normalized_mean"] for r in ok])
            key = "bc" if noise == 0 else f"bc_noise{noise:g}"
            entry.update({f"{key}_return": mean, f"{key}_ci95": ci, f"{key}_normalized": score,
                          f"{key}_normalized_ci95": score_ci, f"{key}_seeds": len(ok)})
        entry["bc_train_wall_s"] = _mean([r["train_wall_s"] for r in bc_rows
                                          if r["row"] == row and r.get("status") == "ok"])
        reference = REFERENCE.get(row, (None, None))
        entry.update(reference_augmented_return=reference[0], reference_bc_return=reference[1],
                     reference_bc_share=None if reference[1] is None else reference[1] / SLIDES_DEMO_RETURN)
        table.append(entry)
    demos = next((e for e in table if e["row"] == "demos"), None)
    for entry in table:
        if demos and demos.get("augmented_return"):
            entry["bc_share_of_demo_return"] = entry["bc_return"] / demos["augmented_return"]
            entry["augmented_share_of_demo_return"] = (
                None if entry["augmented_return"] is None else entry["augmented_return"] / demos["augmented_return"])
            for noise in (n for n in config.action_noise if n):
                noisy = entry[f"bc_noise{noise:g}_return"]
                entry[f"bc_noise{noise:g}_share_of_demo_return"] = (
                    None if noisy is None else noisy / demos["augmented_return"])
    return table


def write_table(table: list[dict[str, Any]], record: dict[str, Any], out: Path) -> dict[str, Path]:
    """seed_table.csv / .json / .md / .png."""
    config = record["config"]
    noisy = [n for n in config["action_noise"] if n]
    lines = []
    for e in table:
        line = {"row": e["row"], "augmented trajectories": _integer(e["trajectories"]),
                "avg return of augmented (demos) trajectories": _number(e["augmented_return"]),
                "set share of demos' return": _percent(e.get("augmented_share_of_demo_return")),
                "BC uses expert?": "yes" if e["bc_uses_expert"] else "no",
                "BC return (mean ± 95% CI)": format_mean_ci(e["bc_return"], e["bc_ci95"]),
                "D4RL normalized": format_mean_ci(e["bc_normalized"], e["bc_normalized_ci95"]),
                "share of demos' return": _percent(e.get("bc_share_of_demo_return"))}
        for noise in noisy:
            line[f"BC return, σ={noise:g} noise"] = format_mean_ci(e[f"bc_noise{noise:g}_return"],
                                                                 e[f"bc_noise{noise:g}_ci95"])
            line[f"share, σ={noise:g}"] = _percent(e.get(f"bc_noise{noise:g}_share_of_demo_return"))
        line.update({"dynamics error p95": _scientific(e.get("dynamics_error_p95")),
                     "transitions": _integer(e.get("transitions")),
                     "trace length / budget": (f"{e['trace_length']:.2f} / {e['trace_budget']:.2f}"
                                               if e.get("trace_length") is not None else "–"),
                     "refused steps": _percent(e.get("refused_share")),
                     "reward error": _number(e.get("reward_error")),
                     "augment wall s": _integer(e.get("augment_wall_s")),
                     "BC train wall s": _integer(e.get("bc_train_wall_s")),
                     "reference: augmented return": _number(e["reference_augmented_return"]),
                     "reference: BC return": _number(e["reference_bc_return"]),
                     "reference: share": _percent(e.get("reference_bc_share"))})
        lines.append(line)
    first = config.get("first_seed", 0)
    seeds = f"{config['seeds']} seed(s)" + (f" ({first}–{first + config['seeds'] - 1})" if first else "")
    text = (f"# Seed table: {config['dataset']}, {config['demos']} demos, {seeds}\n\n"
            f"BC (CORL defaults, {config['bc_steps']} updates, the same for every row) trained on each row's data "
            f"alone — no expert transitions except in the `demos` row and the `…+demos` rows (the set plus the "
            f"demos) — and evaluated on {config['eval_episodes']} "
            "episodes per seed; mean over seeds ± 95% Student-t CI. Reference columns: the original slides "
            "(their demos returned 2439.8 and their BC baseline reached 41% of it; the share is BC's return over "
            "their demos' return; see reference §1).\n\n" + markdown_table(lines))
    if record["missing_rows"]:
        text += f"\nRows not run (method not installed): {', '.join(record['missing_rows'])}\n"
    return {"csv": write_csv(table, out / "seed_table.csv"), "json": write_json(record, out / "seed_table.json"),
            "md": write_markdown(text, out / "seed_table.md"),
            "png": bar_chart_ci([e["row"] for e in table], [e["bc_return"] for e in table],
                                [e["bc_ci95"] for e in table], out / "seed_table.png",
                                ylabel="BC return (standard evaluation)",
                                title=f"{config['dataset']}, {config['demos']} demos: BC on each row's data")}


def _integer(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.0f}"


def _number(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.0f}%"


def _scientific(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.1e}"


def _mean(values: list[Any]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None

"""Result tables and plots, generic over rows of dicts: CSV, JSON, Markdown, and a bar chart with 95% CIs.

Confidence intervals: ``mean_ci95`` gives the half-width of a two-sided 95% Student-t interval for the mean,
``t(0.975, n−1) · s / √n`` with the sample standard deviation ``s`` (ddof = 1). The t quantile (not 1.96) is used
because the typical n is small: 3 seeds give t = 4.30, so 1.96 would understate the interval by more than half; for
100 episodes t = 1.98. With fewer than 2 values the half-width is NaN (written as an empty cell / ``null``).

Every file is written atomically and replaced if it exists (tables are regenerated from the cell results).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from trajaug.core.atomic import atomic_path

Row = Mapping[str, Any]

# Two-sided 95% Student-t critical values t(0.975, df) for df = 1..30.
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959963984540054


def t_critical_95(df: int) -> float:
    """t(0.975, df): a table for df ≤ 30, the Cornish-Fisher expansion in 1/df beyond (error < 1e-4)."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(mean, 95% CI half-width) of ``values`` (NaNs dropped); (nan, nan) if empty, half-width nan if one value."""
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    if len(array) == 0:
        return math.nan, math.nan
    mean = float(array.mean())
    if len(array) < 2:
        return mean, math.nan
    return mean, t_critical_95(len(array) - 1) * float(array.std(ddof=1)) / math.sqrt(len(array))


def group_mean_ci(rows: Sequence[Row], by: Sequence[str], values: Sequence[str],
                  where: str | None = None) -> list[dict[str, Any]]:
    """Group ``rows`` by the ``by`` keys (first-seen order) and give, per group, ``n`` (rows counted),
    ``<value>_mean`` and ``<value>_ci95`` for each value key. ``where``: only rows whose key is truthy are counted
    (the group still appears, with ``n`` = 0, and ``n_rows`` counts all its rows)."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(_hashable(row.get(key)) for key in by), []).append(row)
    out = []
    for members in groups.values():
        counted = [r for r in members if where is None or r.get(where)]
        record: dict[str, Any] = {**dict(zip(by, (members[0].get(k) for k in by), strict=True)),
                                  "n": len(counted), "n_rows": len(members)}
        for value in values:
            numbers = [float(r[value]) for r in counted if r.get(value) is not None]
            record[f"{value}_mean"], record[f"{value}_ci95"] = mean_ci95(numbers)
        out.append(record)
    return out


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return json.dumps(_clean(value), sort_keys=True, default=str)
    return tuple(_hashable(v) for v in value) if isinstance(value, list | tuple) else value


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars/arrays → Python, tuples → lists, paths → str."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(value: Any) -> str:
    """Standard JSON (no NaN literals) with 2-space indentation."""
    return json.dumps(_clean(value), indent=2, allow_nan=False, default=str)


def json_bytes(value: Any) -> bytes:
    """The file contents :func:`write_json` writes: :func:`to_json` plus a final newline, UTF-8."""
    return (to_json(value) + "\n").encode()


def write_json(value: Any, path: str | Path) -> Path:
    with atomic_path(path, force=True) as tmp:
        tmp.write_bytes(json_bytes(value))
    return Path(path)


def write_csv(rows: Sequence[Row], path: str | Path, columns: Sequence[str] | None = None) -> Path:
    """One line per row; columns default to every key in first-seen order; None/NaN → empty cell."""
    names = _columns(rows, columns)
    with atomic_path(path, force=True) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if (v := _clean(row.get(name))) is None else v for name in names])
    return Path(path)


def format_mean_ci(mean: float | None, ci: float | None, digits: int = 1) -> str:
    """``"12.3 ± 0.4"``; ``"12.3"`` without a CI; ``"–"`` without a mean."""
    if mean is None or not math.isfinite(mean):
        return "–"
    if ci is None or not math.isfinite(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None,
                   headers: Mapping[str, str] | None = None, digits: int = 2) -> str:
    """A GitHub Markdown table; floats to ``digits`` decimals, None/NaN as ``–``, ``|`` escaped."""
    names = _columns(rows, columns)
    headers = headers or {}

    def cell(value: Any) -> str:
        value = _clean(value)
        if value is None:
            return "–"
        text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers.get(n, n) for n in names) + " |",
             "|" + "|".join("---" for _ in names) + "|"]
    lines += ["| " + " | ".join(cell(row.get(n)) for n in names) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_markdown(text: str, path: str | Path) -> Path:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(text)
    return Path(path)


def bar_chart_ci(labels: Sequence[str], means: Sequence[float], cis: Sequence[float], path: str | Path,
                 ylabel: str = "", title: str = "") -> Path:
    """A PNG bar chart, one bar per label with a 95% CI error bar (NaN CI: no bar; NaN mean: empty slot)."""
    heights = np.asarray(means, dtype=np.float64)
    errors = np.nan_to_num(np.asarray(cis, dtype=np.float64), nan=0.0)
    return bar_chart_interval(labels, heights, heights - errors, heights + errors, path, ylabel, title)


def bar_chart_interval(labels: Sequence[str], values: Sequence[float] | np.ndarray, lows: Sequence[float] | np.ndarray,
                       highs: Sequence[float] | np.ndarray, path: str | Path, ylabel: str = "",
                       title: str = "") -> Path:
    """A PNG bar chart, one bar per label with an error bar from ``lows`` to ``highs`` (an asymmetric interval,
    e.g. a bootstrap CI; NaN: no error bar; NaN value: empty slot)."""
    raw = np.asarray(values, dtype=np.float64)
    heights = np.nan_to_num(raw, nan=0.0)
    below = np.nan_to_num(raw - np.asarray(lows, dtype=np.float64), nan=0.0).clip(min=0)
    above = np.nan_to_num(np.asarray(highs, dtype=np.float64) - raw, nan=0.0).clip(min=0)
    with _png(path, (max(4.0, 0.6 * len(labels) + 1.5), 4.2)) as ax:
        positions = np.arange(len(labels))
        ax.bar(positions, heights, yerr=np.stack([below, above]), capsize=4, color="#4c72b0", ecolor="#222222")
        ax.set_xticks(positions, list(labels), rotation=30 if len(labels) > 3 else 0, ha="right"
                      if len(labels) > 3 else "center", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    return Path(path)


def line_chart_ci(x: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                  path: str | Path, xlabel: str = "", ylabel: str = "", title: str = "") -> Path:
    """A PNG line chart: one line per series name → (means, 95% CI half-widths) over ``x``, CI as error bars and a
    band (the band needs two points; the bars show it at one)."""
    with _png(path, (5.5, 4.0)) as ax:
        for name, (means, cis) in series.items():
            mean = np.asarray(means, dtype=np.float64)
            ci = np.nan_to_num(np.asarray(cis, dtype=np.float64), nan=0.0)
            line = ax.errorbar(x, mean, yerr=ci, marker="o", capsize=4, label=name)
            ax.fill_between(x, mean - ci, mean + ci, alpha=0.15, color=line[0].get_color())
        ax.set_xticks(list(x), [_compact(value) for value in x])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return Path(path)


def _compact(value: float) -> str:
    """A tick label short enough for ten ticks side by side: 3, 20k, 1.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def line_chart(x: Sequence[float], series: Mapping[str, Sequence[float]], path: str | Path, xlabel: str = "",
               ylabel: str = "", title: str = "", log_y: bool = False) -> Path:
    """A PNG line chart: one line per series name → values over ``x`` (``log_y``: a logarithmic y axis)."""
    with _png(path, (5.5, 4.0)) as ax:
        for name, values in series.items():
            ax.plot(x, values, marker="o", markersize=3, label=name)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    return Path(path)


@contextmanager
def _png(path: str | Path, size: tuple[float, float]) -> Iterator[Any]:
    """Yield the axes of a new figure (Agg backend); on success lay it out and write it atomically as a PNG to
    ``path``; always close it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=110)
    try:
        yield ax
        fig.tight_layout()
        with atomic_path(path, force=True) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)

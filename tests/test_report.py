"""Table writers and confidence-interval arithmetic."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from trajaug.core.report import (
    _compact,
    bar_chart_ci,
    format_mean_ci,
    group_mean_ci,
    markdown_table,
    mean_ci95,
    t_critical_95,
    write_csv,
    write_json,
    write_markdown,
)

ROWS = [{"name": "a", "score": 1.5, "n": 2}, {"name": "b|c", "score": float("nan"), "extra": None}]


def test_mean_ci95_known_values() -> None:
    mean, ci = mean_ci95([1.0, 2.0, 3.0])  # s = 1, t(0.975, 2) = 4.3027
    assert mean == 2.0 and ci == pytest.approx(4.3027 / math.sqrt(3))
    mean, ci = mean_ci95([10.0, 10.0, 10.0, 10.0])
    assert mean == 10.0 and ci == 0.0
    assert math.isnan(mean_ci95([5.0])[1]) and mean_ci95([5.0])[0] == 5.0
    assert all(math.isnan(v) for v in mean_ci95([]))
    assert mean_ci95([1.0, float("nan"), 3.0])[0] == 2.0  # NaNs are dropped


def test_t_critical_values() -> None:
    assert t_critical_95(1) == pytest.approx(12.706, abs=1e-3)
    assert t_critical_95(2) == pytest.approx(4.303, abs=1e-3)
    assert t_critical_95(30) == pytest.approx(2.042, abs=1e-3)
    assert t_critical_95(60) == pytest.approx(2.000, abs=1e-3)
    assert t_critical_95(99) == pytest.approx(1.984, abs=1e-3)
    assert t_critical_95(10**6) == pytest.approx(1.960, abs=1e-3)
    values = [t_critical_95(df) for df in range(1, 200)]
    assert values == sorted(values, reverse=True)  # decreasing in df, also across the table / expansion seam


def test_csv_content(tmp_path: Path) -> None:
    path = write_csv(ROWS, tmp_path / "t.csv")
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines == [["name", "score", "n", "extra"], ["a", "1.5", "2", ""], ["b|c", "", "", ""]]
    assert write_csv(ROWS, tmp_path / "u.csv", ["n"]).read_text().splitlines() == ["n", "2", "\"\""]


def test_json_content_has_no_nan(tmp_path: Path) -> None:
    path = write_json({"rows": ROWS, "tuple": (1, 2)}, tmp_path / "t.json")
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"rows": [{"name": "a", "score": 1.5, "n": 2},
                                         {"name": "b|c", "score": None, "extra": None}], "tuple": [1, 2]}


def test_markdown_content(tmp_path: Path) -> None:
    text = markdown_table(ROWS, ["name", "score"], headers={"score": "Score"})
    assert text == "| name | Score |\n|---|---|\n| a | 1.50 |\n| b\\|c | – |\n"
    assert write_markdown(text, tmp_path / "t.md").read_text() == text
    assert format_mean_ci(12.345, 0.44) == "12.3 ± 0.4"
    assert format_mean_ci(12.345, float("nan")) == "12.3"
    assert format_mean_ci(float("nan"), 1.0) == "–"


def test_group_mean_ci() -> None:
    rows = [{"d": "x", "seed": s, "r": v, "ok": True} for s, v in enumerate([1.0, 2.0, 3.0])]
    rows.append({"d": "y", "seed": 0, "r": None, "ok": False})
    summary = group_mean_ci(rows, ["d"], ["r"], where="ok")
    assert summary[0]["d"] == "x" and summary[0]["n"] == 3 and summary[0]["r_mean"] == 2.0
    assert summary[0]["r_ci95"] == pytest.approx(4.3027 / math.sqrt(3))
    assert summary[1]["n"] == 0 and summary[1]["n_rows"] == 1 and math.isnan(summary[1]["r_mean"])


@pytest.mark.parametrize(("value", "label"), [(3, "3"), (0.5, "0.5"), (10_000, "10k"), (100_000, "100k"),
                                              (1_500_000, "1.5M"), (102_400, "102.4k")])
def test_tick_labels_are_compact(value: float, label: str) -> None:
    assert _compact(value) == label


def test_bar_chart_png(tmp_path: Path) -> None:
    path = bar_chart_ci(["a", "b", "c"], [1.0, 2.0, float("nan")], [0.5, float("nan"), 0.1], tmp_path / "p.png",
                        ylabel="score")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

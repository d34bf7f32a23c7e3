"""Copy the small text records of a finished benchmark output folder (its tables and every JSON record: cells'
``result.json``, ``metrics.json``, ``curve.json``, ``config.json``, the subsets' and sets' records) into a folder
under ``docs/results/``, leaving out models, datasets, figures and resume states; the folder layout is kept, so
``trajaug bench offrl-merge`` reads the copy as it reads the original.

    python scripts/keep_records.py runs/aug/walker2d-seed0 docs/results/offrl-augmentation/units/walker2d-seed0

Refuses a destination that exists (remove it first) and a record over 2 MB (a record that large is not small).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

KEEP = (".json", ".md", ".csv")
SKIP_FOLDERS = ("resume",)
LIMIT = 2 * 1024 * 1024


def records(source: Path) -> list[Path]:
    """The files to keep, relative to ``source``."""
    kept = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and path.suffix in KEEP and relative.parts[0] not in SKIP_FOLDERS:
            if path.stat().st_size > LIMIT:
                raise SystemExit(f"{path}: {path.stat().st_size} bytes, over {LIMIT}: not a small record")
            kept.append(relative)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args(argv)
    if args.destination.exists():
        print(f"{args.destination}: exists; remove it first", file=sys.stderr)
        return 2
    kept = records(args.source)
    staging = args.destination.with_name(args.destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for relative in kept:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.source / relative, staging / relative)
    staging.rename(args.destination)  # all or nothing
    print(f"{len(kept)} records, {sum((args.destination / r).stat().st_size for r in kept)} bytes -> "
          f"{args.destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

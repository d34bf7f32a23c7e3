"""Write docs/results/manifest.json: size and sha256 of every binary artifact under docs/results.

    .venv/bin/python tests/results_manifest.py

Binary artifacts are every file that is not a text table (Markdown, JSON, CSV, plain text): generators (.pt),
HDF5 sets and plots. ``tests/test_docs.py`` checks that the manifest matches the files and that none is over 5 MB.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
TEXT_SUFFIXES = (".md", ".json", ".csv", ".txt")
MAX_BYTES = 5 * 1024 * 1024
"""No committed result file may be larger (regenerate it instead, or keep it out of git and say how)."""


def binary_artifacts(root: Path = RESULTS) -> dict[str, dict[str, int | str]]:
    """{path relative to ``root``: {"bytes": size, "sha256": hex digest}} of every binary file, sorted."""
    return {str(path.relative_to(root)): {"bytes": path.stat().st_size,
                                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
            for path in sorted(root.rglob("*")) if path.is_file() and path.suffix not in TEXT_SUFFIXES}


def main() -> None:
    manifest = binary_artifacts()
    (RESULTS / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(manifest)} binary artifacts, {sum(int(v['bytes']) for v in manifest.values()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

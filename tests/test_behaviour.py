"""Fixed seeds give the recorded outputs: noise, mixup, bdm, a tiny CAT run and BC (tests/fingerprints.py).

The fingerprints were recorded before the layout and config redesign; a change meant to alter results rewrites
them with ``python tests/fingerprints.py --write`` and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

import fingerprints

ROOT = Path(__file__).resolve().parents[1]


def test_fixed_seed_outputs_match_the_recorded_fingerprints() -> None:
    expected = json.loads((ROOT / "tests" / "data" / "behaviour_hashes.json").read_text())
    assert set(expected) == {"noise", "mixup", "bdm", "cat", "bc"}
    assert fingerprints.fingerprints() == expected


def test_fingerprint_sees_a_one_ulp_change() -> None:
    import numpy as np

    hash_of = fingerprints.array_hash
    a = np.linspace(0, 1, 10, dtype=np.float32)
    b = a.copy()
    b[3] = np.nextafter(b[3], np.float32(2))
    assert hash_of([a]) != hash_of([b])
    assert hash_of([a]) == hash_of([a.copy()])

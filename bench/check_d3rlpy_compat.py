"""Check that a file trajaug wrote loads in d3rlpy's ``load_v1`` with the same episodes (run with d3rlpy's Python).

    bench/.venv-d3rlpy/bin/python bench/check_d3rlpy_compat.py runs/cat.hdf5

(``bench/bench_bc.py`` creates that virtual environment: d3rlpy 2.8 pins an older Gymnasium than trajaug.)
Prints the episode count and lengths d3rlpy sees next to those in the file's own episode flags; exits 1 on mismatch.
"""

from __future__ import annotations

import sys

import h5py
import numpy as np
from d3rlpy.dataset import load_v1


def main(path: str) -> int:
    episodes = load_v1(path)
    with h5py.File(path, "r") as f:
        ends = np.flatnonzero(f["terminals"][()] | f["timeouts"][()]) + 1
        rewards = f["rewards"][()]
    lengths = np.diff(np.concatenate([[0], ends]))
    theirs = np.array([len(e.rewards) for e in episodes])
    returns = np.array([float(e.rewards.sum()) for e in episodes])
    ours = np.add.reduceat(rewards.astype(np.float64), np.concatenate([[0], ends[:-1]]))
    returns_match = bool(np.allclose(returns, ours, rtol=1e-4, atol=1e-2))  # float32 sums differ in the last bits
    same = len(theirs) == len(lengths) and (theirs == lengths).all() and returns_match
    print(f"d3rlpy load_v1: {len(episodes)} episodes, lengths {sorted(set(theirs.tolist()))}; "
          f"file: {len(lengths)} episodes; returns match: {returns_match}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

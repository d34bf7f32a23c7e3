"""Fingerprints of fixed-seed outputs: noise, mixup, bdm, a tiny CAT run and BC, on 2 bundled-expert demos.

Question it answers: does a refactor change what trajaug computes? Each entry is the sha256 of the arrays a run
writes (the D4RL arrays of an augmented set; BC's weights and its evaluation returns), never of metadata such as
wall times. ``tests/test_behaviour.py`` compares them with ``tests/data/behaviour_hashes.json``; after a change
that is meant to alter results, rerun ``python tests/fingerprints.py --write`` and say why in the commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

EXPECTED = Path(__file__).resolve().parents[1] / "tests" / "data" / "behaviour_hashes.json"
ARRAYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")

RUNS: dict[str, dict[str, Any]] = {
    "noise": {"per_episode": 3, "config": {}},
    "mixup": {"per_episode": 1, "config": {}},
    "bdm": {"per_episode": 3, "config": {"steps": 300, "value_steps": 200, "gan_steps": 200,
                                         "max_disagreement": 0.0}},
    "cat": {"per_episode": 2, "config": {"total_steps": 4096, "bc_warmstart_steps": 300, "n_envs": 4,
                                         "n_steps": 256}},
}
"""Method → its tiny budget (per_episode, config overrides)."""


def array_hash(arrays: list[np.ndarray]) -> str:
    """sha256 over the dtype, shape and bytes of each array, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def fingerprints() -> dict[str, str]:
    """Method or ``bc`` → sha256 of its fixed-seed output (seed 0, 2 demos of 200 steps)."""
    from trajaug.augment import augment, get_augmenter
    from trajaug.bc.evaluate import evaluate_policy
    from trajaug.bc.train import BCConfig, train_bc
    from trajaug.experts.bundled import build_expert_dataset, bundled_actor_path, load_actor

    torch.set_num_threads(1)
    demos = build_expert_dataset("HalfCheetah-v5", load_actor(bundled_actor_path("halfcheetah")), episodes=2)
    demos = demos.take_rows(np.concatenate([np.arange(0, 200), np.arange(1000, 1200)]))
    timeouts = np.zeros(len(demos), bool)
    timeouts[[199, 399]] = True
    demos = dataclasses.replace(demos, timeouts=timeouts)
    result: dict[str, str] = {}
    for method, run in RUNS.items():
        config = get_augmenter(method).Config(**run["config"])
        augmented, _ = augment(method, demos, config, run["per_episode"], seed=0)
        result[method] = array_hash([getattr(augmented, name) for name in ARRAYS])
    policy, _ = train_bc(demos, BCConfig(steps=500, seed=0))
    returns = evaluate_policy(policy, "HalfCheetah-v5", episodes=3, seed=0).returns
    weights = [tensor.detach().numpy() for _, tensor in sorted(policy.state_dict().items())]
    result["bc"] = array_hash([*weights, np.asarray(returns)])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"Record the fingerprints in {EXPECTED}.")
    args = parser.parse_args()
    found = fingerprints()
    print(json.dumps(found, indent=2))
    if args.write:
        EXPECTED.parent.mkdir(parents=True, exist_ok=True)
        EXPECTED.write_text(json.dumps(found, indent=2) + "\n")
        return 0
    expected = json.loads(EXPECTED.read_text())
    changed = sorted(k for k in expected if expected[k] != found.get(k))
    if changed:
        print(f"changed: {', '.join(changed)}", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())

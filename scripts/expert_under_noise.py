"""How much of its return does a bundled expert keep under the perturbed evaluation of the few-demo benchmark?

    .venv/bin/python scripts/expert_under_noise.py [hopper walker2d halfcheetah | ACTOR.pt ...] [--episodes 100]
                                                 [--noise 0.1]

Evaluates each bundled actor exactly as BC policies are evaluated (:func:`trajaug.bc.evaluate.evaluate_policy`,
N(0, σ²) noise on every executed action, environment seeds 0+), without and with the noise. The expert under noise
is a practical ceiling for BC under noise (a BC policy imitates the expert; it can land above it, but rarely far):
"≥ 1.5× BC on the demos" under perturbation asks for more than the expert's own perturbed return wherever
1.5 × (BC on the demos) exceeds it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trajaug.bc.evaluate import evaluate_policy
from trajaug.experts.bundled import bundled_actor_path, load_actor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experts", nargs="*", default=["hopper", "walker2d"])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.1)
    args = parser.parse_args()
    print(f"{'expert':12s} {'σ = 0':>18s} {f'σ = {args.noise:g}':>18s}  kept")
    for name in args.experts:
        actor = load_actor(Path(name) if name.endswith(".pt") else bundled_actor_path(name))  # a candidate file too
        plain, noisy = (evaluate_policy(actor, actor.env_id, episodes=args.episodes, action_noise=noise)
                        for noise in (0.0, args.noise))
        print(f"{name:12s} {plain.mean:9.1f} ± {plain.ci95:6.1f} {noisy.mean:9.1f} ± {noisy.ci95:6.1f}  "
              f"{noisy.mean / plain.mean:4.0%}")


if __name__ == "__main__":
    main()

"""How good is a trained CAT generator as a policy of its own, under the evaluation BC on its data faces?

    .venv/bin/python scripts/generator_as_policy.py GENERATOR.pt [...] --dataset walker2d-expert --episodes 3
        [--seed 100] [--eval-episodes 100] [--action-noise 0 0.1] [--out runs/bench/generator-as-policy]

BC on a CAT set imitates the generator that made it, so the generator's own robustness bounds what the set can
teach. This benchmark runs each saved generator (``trajaug augment cat --save-generator``, trained with
``--hint nearest``) as a controller: at every state it corrects the hint a' = clip(a_E + ν, −1, 1), a_E the action
of the nearest demo state and ν ~ U(−σ, σ) with the generator's own σ (or ν = 0 with ``--hint-noise 0``), and
takes the Gaussian's mean. It is evaluated exactly as BC is (:func:`trajaug.bc.evaluate.evaluate_policy`: fresh
resets of the task, ``--eval-episodes`` episodes from ``--seed``, optional N(0, σ²) action noise), so its return
reads next to BC's. ``--dataset`` / ``--episodes`` must be the demos the generator was trained on (the hint comes
from them; loading checks the environment and σ). Writes ``results.json`` and ``table.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trajaug.augment import ModelFiles
from trajaug.augment.adversarial.cat import CATAugmenter, CATConfig
from trajaug.augment.adversarial.envs import DemoHints, distort
from trajaug.bc.evaluate import evaluate_policy
from trajaug.core.report import format_mean_ci, markdown_table, write_json, write_markdown
from trajaug.datasets.registry import load


class GeneratorPolicy(torch.nn.Module):
    """(B, obs_dim) float32 observations → (B, act_dim) generator actions for the nearest-demo hint plus U(−ν, ν)
    noise drawn from a seeded generator."""

    def __init__(self, augmenter: CATAugmenter, hint_noise: float, seed: int) -> None:
        super().__init__()
        demos = augmenter.demos
        assert demos is not None
        self.trainer, self.hint_noise = augmenter.trainer, hint_noise
        self.hints = DemoHints(demos, self.trainer.obs_mean, self.trainer.obs_std, "nearest")
        self.rng = np.random.default_rng(seed)
        self.env_id, self.obs_dim = demos.env_id, demos.obs_dim

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        states = observations.numpy().astype(np.float64)
        base = self.hints(np.zeros(len(states), int), np.zeros(len(states), int), states)
        return torch.as_tensor(self.trainer.act(states, distort(base, self.hint_noise, self.rng)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="+", type=Path)
    parser.add_argument("--dataset", default="walker2d-expert")
    parser.add_argument("--episodes", type=int, default=3, help="demos the generators were trained on")
    parser.add_argument("--seed", type=int, default=100, help="evaluation seed")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--action-noise", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--hint-noise", type=float, default=None, help="ν half-width (default: the generator's σ)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/generator-as-policy"))
    args = parser.parse_args()

    demos = load(args.dataset).first_episodes(args.episodes)
    demo_return = float(demos.episode_returns().mean())
    rows: list[dict[str, Any]] = []
    torch.set_num_threads(1)
    for path in args.generators:
        augmenter = CATAugmenter(CATConfig(), seed=0, files=ModelFiles(load=str(path)))
        augmenter.fit(demos)
        hint_noise = augmenter.config.sigma if args.hint_noise is None else args.hint_noise
        for noise in args.action_noise:
            policy = GeneratorPolicy(augmenter, hint_noise, seed=args.seed)
            result = evaluate_policy(policy, demos.env_id or "", args.eval_episodes, args.seed, noise)
            rows.append({"generator": str(path), "hint_noise": hint_noise, "action_noise": noise,
                         "return_mean": result.mean, "return_ci95": result.ci95,
                         "share_of_demos": result.mean / demo_return,
                         "below_half_of_demos": float((result.returns < 0.5 * demo_return).mean())})
            print(f"{path.name}: hint ν {hint_noise:g}, action noise {noise:g}: return "
                  f"{format_mean_ci(result.mean, result.ci95)} = {result.mean / demo_return:.2f}× the demos' "
                  f"({demo_return:.0f}); {rows[-1]['below_half_of_demos']:.0%} of episodes below half of it",
                  flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json({"dataset": args.dataset, "episodes": args.episodes, "seed": args.seed,
                "eval_episodes": args.eval_episodes, "demo_return": demo_return, "rows": rows},
               args.out / "results.json")
    table = markdown_table(
        [{"generator": Path(r["generator"]).name, "hint ν": r["hint_noise"], "action noise": r["action_noise"],
          "return (95% CI)": format_mean_ci(r["return_mean"], r["return_ci95"]), "× demos": r["share_of_demos"],
          "episodes < ½ demos": f"{r['below_half_of_demos']:.0%}"} for r in rows])
    write_markdown(f"# Generators as policies ({args.dataset}, {args.episodes} demos)\n\n{table}\n",
                   args.out / "table.md")

if __name__ == "__main__":
    main()

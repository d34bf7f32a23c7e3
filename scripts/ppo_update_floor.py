"""What one PPO minibatch step of CAT's generator costs, and what its arithmetic alone costs, on this machine.

    .venv/bin/python scripts/ppo_update_floor.py [--repeats 200] [--out runs/ppo-update-floor]

CAT's default generator (23 inputs: 17 state + 6 hint; 6 actions; π and V each 256-256 tanh) on a random minibatch
of 256, one torch thread per thread as ``trajaug augment`` runs it. Rows:

* ``update, one thread`` / ``update, V on a second thread``: :func:`adversarial.ppo.minibatch_step` (forward,
  backward, gradient clip, Adam), V's half in the same thread or on a helper thread as PPO runs it;
* ``matrix products`` and ``tanh``: the forward and backward products and the four forward ``tanh`` of that step
  timed alone — the arithmetic no implementation of this loss on one core avoids;
* ``policy inference, 8 rows``: one collection step's ``ActorCritic.step`` (actions, values, log-probabilities).

Each figure is the median over ``--repeats`` timed calls, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

HIDDEN, IN_DIM, ACT_DIM, BATCH = 256, 23, 6, 256


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(10):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("runs/ppo-update-floor"))
    args = parser.parse_args()
    from trajaug.augment.adversarial import ppo
    from trajaug.core.report import markdown_table, write_json, write_markdown

    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = ppo.ActorCritic(IN_DIM, ACT_DIM, (HIDDEN, HIDDEN), -1.5)
    optimizer = ppo.optimizer_for(policy, 1e-4)
    x, actions = torch.randn(BATCH, IN_DIM), torch.randn(BATCH, ACT_DIM)
    old_log_prob, advantages, returns = torch.randn(BATCH), torch.randn(BATCH), torch.randn(BATCH)

    def step(helper: ThreadPoolExecutor | None) -> None:
        ppo.minibatch_step(policy, optimizer, x, actions, old_log_prob, advantages, returns, helper)

    inputs, hidden, narrow = torch.randn(BATCH, IN_DIM), torch.randn(BATCH, HIDDEN), torch.randn(BATCH, ACT_DIM)
    first, square = torch.randn(IN_DIM, HIDDEN), torch.randn(HIDDEN, HIDDEN)
    head, head_t = torch.randn(HIDDEN, ACT_DIM), torch.randn(ACT_DIM, HIDDEN)

    def products() -> None:
        for _ in range(2):  # π and V (V's head is narrower: an upper bound)
            inputs @ first, hidden @ square, hidden @ head  # forward, layer by layer
            narrow @ head_t, hidden.T @ narrow  # backward of the head: input and weight gradients
            hidden @ square, hidden.T @ hidden  # of the middle layer
            inputs.T @ hidden  # of the first layer: its weight gradient only

    with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,)) as helper:
        rows = {"update, one thread": median_ms(lambda: step(None), args.repeats),
                "update, V on a second thread": median_ms(lambda: step(helper), args.repeats)}
    rows["matrix products"] = median_ms(products, args.repeats)
    rows["tanh"] = median_ms(lambda: [torch.tanh(hidden) for _ in range(4)], args.repeats)
    with torch.inference_mode():
        rows["policy inference, 8 rows"] = median_ms(lambda: policy.step(inputs[:8]), args.repeats * 10)
    table = [{"what": name, "ms": round(value, 3)} for name, value in rows.items()]
    text = f"# One PPO minibatch step of CAT's generator (batch {BATCH}, 2 × {HIDDEN}-{HIDDEN} tanh)\n\n"
    text += markdown_table(table) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(text, args.out / "floor.md")
    write_json({"rows": rows, "repeats": args.repeats}, args.out / "floor.json")
    print(text)


if __name__ == "__main__":
    main()

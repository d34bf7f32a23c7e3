"""A grid on a two-node Ray cluster on this machine (head + one worker node): cells are placed on both nodes, and
the grid still completes when the worker node is removed midway (its running cell is retried on the head)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trajaug.bc.batch import run_batch
from trajaug.bc.grid import Grid

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from trajaug.executors.ray import RayExecutor  # noqa: E402 - after the optional-dependency check


def test_grid_survives_losing_a_node(cheetah_file: Path, tmp_path: Path) -> None:
    if ray.is_initialized():
        ray.shutdown()
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker_node = cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        cluster.wait_for_nodes()
        head_id = cluster.head_node.node_id
        executor = RayExecutor(max_retries=3)
        grid = Grid.from_mapping({"datasets": [str(cheetah_file)], "seeds": 8, "episodes": [1], "steps": 40,
                                  "eval_episodes": 2, "bc": {"batch_size": 32, "hidden": [16, 16]}})
        removed_after: list[int] = []

        def remove_worker_once_it_finished_a_cell(_: int) -> None:
            nodes = {node for _, node in executor.placements}
            if not removed_after and worker_node.node_id in nodes and len(executor.placements) < 6:
                removed_after.append(len(executor.placements))
                cluster.remove_node(worker_node)

        result = run_batch(grid, tmp_path / "out", executor, progress=remove_worker_once_it_finished_a_cell)
        nodes = [node for _, node in executor.placements]
        assert removed_after, "the worker node never finished a cell"
        assert worker_node.node_id in nodes and head_id in nodes  # cells ran on both nodes
        assert nodes[removed_after[0]:] == [head_id] * (8 - removed_after[0])  # after removal: the head only
        assert (result.ran, result.failed) == (8, 0)
        assert [row["status"] for row in result.rows] == ["ok"] * 8
        assert len(ray.nodes()) == 2 and sum(node["Alive"] for node in ray.nodes()) == 1
    finally:
        ray.shutdown()
        cluster.shutdown()


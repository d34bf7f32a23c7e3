"""Offline RL on trajaug datasets: TD3+BC and IQL as CORL writes them, evaluated as BC is.

Read in the order data meets it: :mod:`trajaug.offrl.replay` (transitions: terminals do not bootstrap, timeouts do;
the resident replay buffer), :mod:`trajaug.offrl.nets` (actor, twin critics, V), the algorithms
:mod:`trajaug.offrl.td3bc` and :mod:`trajaug.offrl.iql` (config with CORL's defaults + learner, each read top to
bottom), :mod:`trajaug.offrl.train` (``train_offrl``: the loop, learning curves, outputs) and
:mod:`trajaug.offrl.checkpoint` (``policy.pt``, ``evaluate_checkpoint``).
"""

from trajaug.offrl.checkpoint import OffRLCheckpoint, evaluate_checkpoint, load_checkpoint, save_checkpoint
from trajaug.offrl.iql import IQL, IQLConfig
from trajaug.offrl.nets import Actor
from trajaug.offrl.td3bc import TD3BC, TD3BCConfig
from trajaug.offrl.train import ALGORITHMS, load_dataset, train_offrl

__all__ = ["ALGORITHMS", "IQL", "TD3BC", "Actor", "IQLConfig", "OffRLCheckpoint", "TD3BCConfig",
           "evaluate_checkpoint", "load_checkpoint", "load_dataset", "save_checkpoint", "train_offrl"]

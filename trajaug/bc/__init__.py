"""Behaviour cloning: the measure of a dataset in trajaug (train → evaluate → batch grids of both).

Read in the order data meets it: :mod:`trajaug.bc.policy` (network + checkpoint), :mod:`trajaug.bc.train`
(``BCConfig``, ``train_bc``), :mod:`trajaug.bc.evaluate` (``evaluate_policy``), :mod:`trajaug.bc.grid` (grids) and
:mod:`trajaug.bc.batch` (running them).
"""

from trajaug.bc.evaluate import EvalResult, evaluate_checkpoint, evaluate_policy
from trajaug.bc.policy import BCPolicy, Checkpoint, load_checkpoint, save_checkpoint
from trajaug.bc.train import BCConfig, train_bc

__all__ = ["BCConfig", "BCPolicy", "Checkpoint", "EvalResult", "evaluate_checkpoint", "evaluate_policy",
           "load_checkpoint", "save_checkpoint", "train_bc"]

"""trajaug: offline trajectory augmentation for imitation learning and offline RL."""

__version__ = "0.1.0"

"""Augmentation methods. Importing this package registers every method (one line each)."""

from trajaug.augment import bdm, cat, gail, mixup, noise, synther  # noqa: F401
from trajaug.augment.base import REGISTRY, Augmenter, augment, get_augmenter, register

__all__ = ["REGISTRY", "Augmenter", "augment", "get_augmenter", "register"]

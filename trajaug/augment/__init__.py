"""Augmentation methods, one family per subpackage, behind :class:`Augmenter` and the registry.

Importing this package imports every method, which registers it (``trajaug augment METHOD``):
``noise``, ``mixup`` (modules here), ``cat``, ``gail`` (:mod:`trajaug.augment.adversarial`), ``bdm``, ``bdm-cl``
(:mod:`trajaug.augment.backtracking`), ``synther`` (:mod:`trajaug.augment.diffusion`).
"""

from trajaug.augment import mixup, noise  # noqa: F401
from trajaug.augment.adversarial import cat, gail  # noqa: F401
from trajaug.augment.apply import augment, check_demos
from trajaug.augment.backtracking import bdm  # noqa: F401
from trajaug.augment.base import REGISTRY, Augmenter, ModelFiles, Progress, get_augmenter, register
from trajaug.augment.diffusion import synther  # noqa: F401

__all__ = ["REGISTRY", "Augmenter", "ModelFiles", "Progress", "augment", "check_demos", "get_augmenter", "register"]

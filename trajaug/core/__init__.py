"""The base layer: the dataset type, errors, atomic writes, seeds, environment facts, configs and result tables.

Nothing here imports any other part of trajaug (an import-linter contract in ``pyproject.toml`` checks it).
"""

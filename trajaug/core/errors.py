"""Errors for bad input. The CLI prints ``str(error)`` as one line on stderr and exits with code 2."""

from __future__ import annotations


class TrajaugInputError(ValueError):
    """Bad input from the user: a missing, corrupt or mismatched file, an unknown name, a bad option."""


class DatasetError(TrajaugInputError):
    """A dataset file that cannot be read or does not hold a valid dataset; the message names the file."""

"""``python -m trajaug`` runs the command line."""

from trajaug.cli import main

main()

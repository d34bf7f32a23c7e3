"""``python -m trajaug`` runs the command line."""

from trajaug.cli.main import main

main()

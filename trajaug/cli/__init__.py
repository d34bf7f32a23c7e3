"""The ``trajaug`` command line, one module per command group, each a thin shell over library functions."""

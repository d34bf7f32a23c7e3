"""Recall traces of backtracking models (bdm, bdm-cl), read in this order: ``model`` (transitions, the
single-network backtracking model) → ``ensemble`` → ``inverse_sim`` → ``reverse`` (the reverse models and the trace
loop) → ``starts`` → ``bdm`` (the method modules)."""

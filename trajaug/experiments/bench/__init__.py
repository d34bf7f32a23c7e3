"""Offline benchmarks: BC on the demos against BC on each method's augmented sets, over seeds."""

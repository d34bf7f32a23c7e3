"""Experiments built on the toolkit: the offline benchmarks (:mod:`trajaug.experiments.bench`: the reference table
and the few-demo study) and the online recall-traces experiments (:mod:`trajaug.experiments.recall`)."""

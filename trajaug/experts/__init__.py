"""Bundled expert actors (``*.pt`` next to this file), the datasets they generate (:mod:`trajaug.experts.bundled`)
and the SAC training that made them (:mod:`trajaug.experts.train`, needs stable-baselines3)."""

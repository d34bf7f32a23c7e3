"""The simulator layer: batched Gymnasium-v5 MuJoCo tasks (:mod:`trajaug.sim.vector_task`) and rollouts of a
controller from demo states or resets (:mod:`trajaug.sim.rollout`)."""

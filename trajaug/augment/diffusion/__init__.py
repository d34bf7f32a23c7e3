"""SynthER: an elucidated diffusion model over whole transitions, read in this order: ``edm`` → ``synther``
(``relabel``: its optional simulator relabelling of the sampled s', r and terminal)."""

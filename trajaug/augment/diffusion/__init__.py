"""SynthER: an elucidated diffusion model over whole transitions, read in this order: ``edm`` → ``synther``."""

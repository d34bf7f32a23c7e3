"""CAT and GAIL: a generator trained by PPO on a discriminator's reward in the simulator, read in this order:
``config`` → ``envs`` (the generator's world and CAT's hint) → ``ppo`` → ``reward`` (the discriminator reward and
updates) → ``trainer`` → ``rejection`` → ``augmenter`` → the method modules ``cat`` and ``gail``."""

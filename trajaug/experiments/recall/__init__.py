"""Online recall-traces experiments (Goyal et al., ICLR 2019): Four-Room and SAC on Hopper, apart from the offline
toolkit."""

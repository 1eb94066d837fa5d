"""Weight sync from the learner to the rollout engines, by version (see `rlfb.sync.base`).

Importing this package is light: Ray and torch.distributed are imported inside the functions
that need them.
"""

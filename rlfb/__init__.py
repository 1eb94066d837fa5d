"""rlfb: a pluggable RL-from-feedback framework for language models.

Importing ``rlfb`` is cheap: Ray, vLLM, torch.distributed and the models load only when a
command or role that needs them runs. Start from `rlfb.verifiers` and `rlfb.rewards`.
"""

__version__ = "0.1.0"

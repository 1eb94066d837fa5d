"""Subcommands of the `rlfb` CLI, one module each (see `rlfb.cli`)."""

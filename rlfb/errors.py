"""Errors a user can act on.

Every error rlfb raises for bad input derives from `RlfbError`. Its message is one line that names
the problem and how to fix it; the CLI prints it and exits with status 2, without a traceback.
"""

from __future__ import annotations


class RlfbError(Exception):
    """A problem with the user's input or environment, described in one actionable line."""


class RegistryError(RlfbError, LookupError):
    """An unknown, duplicate or ill-typed registry entry."""


class ConfigError(RlfbError, ValueError):
    """A configuration file or override that cannot be used as given."""

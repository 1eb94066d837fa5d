"""Config checks: a field's bounds (`check_range`, run as each section is built). An
algorithm's own checks are `rlfb.algorithms.Algorithm.check`, run by `rlfb.config.validate`."""

from __future__ import annotations

from rlfb.errors import ConfigError


def check_range(ok: bool, message: str) -> None:
    """Raise `ConfigError` with ``message`` unless ``ok`` (a field's own bounds)."""
    if not ok:
        raise ConfigError(message)

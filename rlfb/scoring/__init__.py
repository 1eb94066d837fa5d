"""Scoring: rollouts → `ScoredSample`s through a registered reward."""

from rlfb.scoring.scorer import Scorer, status_counts

__all__ = ["Scorer", "status_counts"]

"""Evaluation outside training: `rlfb eval` (score a model or saved completions on a data file)
and `rlfb rescore` (re-score a run's saved rollouts under another reward).

Modules: `stats` (pure statistics: quantiles, Spearman, pass@k over judged samples, reliability
bins), `reward_spec` (a reward named on the command line or in YAML), `offline_eval` (the eval
pipeline), `rescore` (the re-scoring pipeline), `plots` and `markdown` (the reports).
"""

"""Evaluation: held-out evaluation during training, `rlfb eval` (score a model or saved
completions on a data file) and `rlfb rescore` (re-score a run's saved rollouts under another
reward).

Modules: `held_out` (the trainer's held-out metrics: accuracy, pass@k, reward parts, hedging),
`sampling` (the `rlfb eval` pipeline: sample or load completions, score, summarise), `rescore`
(the re-scoring pipeline), `pass_at_k` and `stats` (pure statistics: the unbiased pass@k,
quantiles, Spearman, reliability bins), `reward_spec` (a reward named on the command line or in
YAML), `plots` and `markdown` (the reports).
"""

"""rlfb.ablate: reward-shaping ablations (`rlfb ablate SWEEP.yaml`).

- `rlfb.ablate.sweep`: the sweep file (base config, axes of dotted overrides, seeds) → arms;
- `rlfb.ablate.runner`: running arms in this process or as Ray tasks, skipping finished ones;
- `rlfb.ablate.aggregate` / `rlfb.ablate.stats`: pure aggregation (final/best per run, mean ± 95%
  Student-t CI across seeds, mean curves);
- `rlfb.ablate.report`: the sweep's ``report.md`` and PNGs.
"""

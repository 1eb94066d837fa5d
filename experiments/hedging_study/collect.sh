#!/bin/bash
# Copy a finished hedging study into experiments/results/hedging-study/ (no checkpoints), then
# rebuild its report from the copied files and write the per-tier measures.
#   experiments/hedging_study/collect.sh [SWEEP_OUTPUT_DIR] [WARM_START_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${1:-runs/ablations/hedging-study}
WARM=${2:-runs/hedging-study/warm-start}
OUT=experiments/results/hedging-study
for run in "$SRC"/payoff=*/seed=*; do
  dest="$OUT/${run#"$SRC"/}"
  mkdir -p "$dest"
  for f in config.yaml metrics.jsonl eval_samples.jsonl samples.jsonl ablate_done.json report.md; do
    [ -f "$run/$f" ] && cp "$run/$f" "$dest/"
  done
done
mkdir -p "$OUT/warm-start/estimate"
cp "$WARM/sft-train.jsonl" "$WARM/sft-summary.json" "$OUT/warm-start/"
cp "$WARM/estimate/eval.json" "$WARM/estimate/eval.md" "$WARM/estimate/eval_samples.jsonl" \
   "$OUT/warm-start/estimate/"
cp "$WARM/sft/metrics.jsonl" "$OUT/warm-start/sft-metrics.jsonl"
.venv/bin/rlfb ablate experiments/ablations/hedging-study.yaml --report-only --output-dir "$OUT"
.venv/bin/python experiments/hedging_study/analyse.py "$OUT"

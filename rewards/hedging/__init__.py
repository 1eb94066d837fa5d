"""Schulman's hedging reward and what it stands on, one module each.

- `reward`: the ``"hedging"`` reward (correctness × hedge class → payoff table);
- `detect`: hedge detectors and their registry (``"phrases"``), golden cases in
  ``hedge_cases.jsonl``;
- `lexicon`: the phrase lists behind ``"phrases"``, with the reasoning for each choice;
- `text`: normalising text and finding the spans a detector sets aside;
- `confidence`: stated probabilities ("Confidence: 70%") and proper scoring rules;
- `metrics`: hedge rate, abstention rate, wrong-unhedged rate, ECE over judged records.

Import from the module you need; this package imports nothing itself.
"""

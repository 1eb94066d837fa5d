"""Metrics of how a model hedges: pure functions over (hedge class, correct, confidence) records.

>>> m = hedging_metrics([("unhedged", True, None), ("hedged", False, None),
...                      ("uninformative", None, None), ("unhedged", False, None)])
>>> m["hedge_rate"], m["abstention_rate"], m["wrong_unhedged_rate"], m["n_masked"]
(0.3333333333333333, 0.0, 0.3333333333333333, 1)

Definitions (``n`` counts the records whose correctness was judged; a record with
``correct=None`` is a masked judge failure, counted in ``n_masked`` and left out of every rate):

- ``hedge_rate``: hedged / n; ``abstention_rate``: uninformative / n;
- ``accuracy_of_answered``: correct / answered, where answered = unhedged + hedged;
- ``accuracy_unhedged`` and ``accuracy_hedged``: accuracy within each class (a calibrated
  hedger is less accurate when it hedges);
- ``wrong_unhedged_rate``: unhedged and wrong / n (confident errors, what the reward punishes
  hardest);
- when any record states a confidence: ``ece`` (expected calibration error with ``n_bins``
  equal-width bins over [0, 1]; p = 1 falls in the last bin), ``mean_confidence`` and
  ``n_confidence``.

A rate whose denominator is 0 is None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from rlfb.rewards.hedging.detect import HedgeClass


@dataclass(frozen=True)
class HedgeRecord:
    """One judged completion: its hedge class, whether it was correct (None when the judge
    failed) and the confidence it stated (None when it stated none)."""

    hedge_class: HedgeClass
    correct: bool | None
    confidence: float | None = None


def _record(item: Any) -> HedgeRecord:
    if isinstance(item, HedgeRecord):
        return item
    cls, correct, *rest = item
    return HedgeRecord(HedgeClass(cls), correct, rest[0] if rest else None)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def expected_calibration_error(
    confidences: Sequence[float], corrects: Sequence[bool], n_bins: int = 10
) -> float:
    """ECE = Σ_b (n_b / n) · |accuracy_b − mean confidence_b| over ``n_bins`` equal-width bins.

    >>> round(expected_calibration_error([0.9, 0.9, 0.2, 0.2], [True, False, False, False]), 6)
    0.3
    """
    if len(confidences) != len(corrects):
        raise ValueError(f"{len(confidences)} confidences but {len(corrects)} correctness labels")
    if not confidences:
        raise ValueError("ECE needs at least one stated confidence")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for p, y in zip(confidences, corrects):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"confidence {p!r} is not in [0, 1]")
        bins[min(int(p * n_bins), n_bins - 1)].append((p, bool(y)))
    total = len(confidences)
    ece = 0.0
    for members in bins:
        if members:
            acc = sum(y for _, y in members) / len(members)
            conf = sum(p for p, _ in members) / len(members)
            ece += len(members) / total * abs(acc - conf)
    return ece


def hedging_metrics(records: Iterable[Any], n_bins: int = 10) -> dict[str, float | int | None]:
    """The metrics above from `HedgeRecord`s or ``(class, correct[, confidence])`` tuples."""
    judged, n_masked = [], 0
    for item in records:
        rec = _record(item)
        if rec.correct is None:
            n_masked += 1
        else:
            judged.append(rec)
    n = len(judged)
    by_class = {c: [r for r in judged if r.hedge_class is c] for c in HedgeClass}
    answered = by_class[HedgeClass.UNHEDGED] + by_class[HedgeClass.HEDGED]
    out: dict[str, float | int | None] = {
        "n": n,
        "n_masked": n_masked,
        "hedge_rate": _ratio(len(by_class[HedgeClass.HEDGED]), n),
        "abstention_rate": _ratio(len(by_class[HedgeClass.UNINFORMATIVE]), n),
        "accuracy_of_answered": _ratio(sum(bool(r.correct) for r in answered), len(answered)),
        "accuracy_unhedged": _ratio(sum(bool(r.correct) for r in by_class[HedgeClass.UNHEDGED]),
                                    len(by_class[HedgeClass.UNHEDGED])),
        "accuracy_hedged": _ratio(sum(bool(r.correct) for r in by_class[HedgeClass.HEDGED]),
                                  len(by_class[HedgeClass.HEDGED])),
        "wrong_unhedged_rate": _ratio(
            sum(not r.correct for r in by_class[HedgeClass.UNHEDGED]), n),
    }
    stated = [r for r in judged if r.confidence is not None]
    if stated:
        confidences = [float(r.confidence) for r in stated]  # type: ignore[arg-type]
        out["n_confidence"] = len(stated)
        out["mean_confidence"] = sum(confidences) / len(confidences)
        out["ece"] = expected_calibration_error(
            confidences, [bool(r.correct) for r in stated], n_bins)
    return out


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for telling the positives from the others: the
    probability that a random positive scores higher than a random negative, ties counting
    one half (Mann-Whitney). None when either class is empty.

    >>> auroc([1, 1, 0, 0], [True, False, False, False])
    0.8333333333333334
    """
    if len(scores) != len(positives):
        raise ValueError(f"{len(scores)} scores but {len(positives)} labels")
    pos = [s for s, y in zip(scores, positives) if y]
    neg = [s for s, y in zip(scores, positives) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def hedge_auroc(records: Iterable[Any]) -> float | None:
    """How well hedging or abstaining flags the wrong answers: `auroc` of the 0/1 signal
    "hedged or uninformative" against wrongness, over the judged records (`HedgeRecord`s or
    tuples as for `hedging_metrics`). 0.5 = no better than chance, 1 = the model hedges or
    abstains exactly when it is wrong. None when all judged records are right, or all wrong.

    >>> hedge_auroc([("hedged", False), ("uninformative", False), ("unhedged", False),
    ...              ("unhedged", True), ("hedged", True)])
    0.5833333333333334
    """
    judged = [r for r in map(_record, records) if r.correct is not None]
    return auroc([float(r.hedge_class is not HedgeClass.UNHEDGED) for r in judged],
                 [not r.correct for r in judged])


def _hedging_info(info: dict[str, Any]) -> dict[str, Any]:
    if "hedge_class" in info:
        return info
    for part in info.get("parts", {}).values():  # a composite: its hedging component's info
        if isinstance(part, dict) and "hedge_class" in part:
            return part
    raise ValueError("result has no 'hedge_class' in info; pass results of the 'hedging' "
                     "reward or of a composite with a hedging component")


def records_from_results(results: Iterable[Any]) -> list[HedgeRecord]:
    """`HedgeRecord`s from hedging `RewardResult`s (their ``info`` holds class, correctness
    and stated confidence), or from composites holding a hedging component."""
    records = []
    for res in results:
        info = _hedging_info(res.info)
        if info["hedge_class"] is None:  # the detector failed: a masked record
            records.append(HedgeRecord(HedgeClass.UNHEDGED, None))
            continue
        records.append(HedgeRecord(HedgeClass(info["hedge_class"]), info.get("correct"),
                                   info.get("stated_confidence")))
    return records

"""`rlfb eval`: sample a model on a data file (or read saved completions), score, summarise.

Correctness (accuracy, pass@k, hedging and calibration metrics) comes from one verifier: the
``accuracy`` verifier when given, else the single verifier inside the reward (the "verifier" and
"hedging" rewards have exactly one). A judge failure (TIMEOUT/ERROR) is counted in
``judge_failed`` and in the status counts, and left out of every rate, never scored as wrong.
Pass@k uses the unbiased estimator over each prompt's judged samples (`stats.pass_at_k_judged`).
Hedge classes come from a hedge detector ("phrases" by default), and stated confidences
("Confidence: 70%") from the same detector; when any completion states one, the summary has a
calibration section (ECE and reliability bins). With an environment (``--env``) every sample is
a multi-turn episode, scored on its final assistant message, and the summary adds the episodes'
turns, tool-call rate, tool calls, tool errors, timeouts and malformed calls.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from rlfb.environments.episodes import episode_summary
from rlfb.errors import RlfbError
from rlfb.evaluation import stats
from rlfb.types import Prompt, SamplingParams


@dataclass(frozen=True)
class EvalItem:
    """One completion to score: its prompt (id and text), reference and text."""

    prompt_id: str
    sample_index: int
    prompt: str
    reference: Any
    completion: str
    finish_reason: str | None = None
    episode: dict[str, Any] | None = None


@dataclass(frozen=True)
class Fields:
    """Column names of the data file (``--prompt-field`` ...)."""

    prompt: str = "prompt"
    reference: str = "reference"
    completion: str = "completion"
    id: str | None = None


def prompt_text(prompt: Prompt) -> str:
    """The text of a prompt's last message (the question), for records and reports."""
    return prompt.messages[-1]["content"] if prompt.messages else ""


def load_prompts(path: str, fields: Fields, *, template: str | None = None,
                 system_prompt: str | None = None, limit: int | None = None) -> list[Prompt]:
    """Every prompt of a local jsonl/json/parquet/csv file through the ``hf_files`` source."""
    from rlfb.data import get_prompt_source

    options: dict[str, Any] = {"files": path, "reference_field": fields.reference,
                               "id_field": fields.id, "template": template,
                               "system_prompt": system_prompt, "limit": limit}
    if template is None:
        options["prompt_field"] = fields.prompt
    source = get_prompt_source("hf_files", **options)
    return [source.get(i) for i in range(len(source))]


def generate_items(model_path: str, prompts: Sequence[Prompt], sampling: SamplingParams,
                   engine: str = "hf", engine_options: dict[str, Any] | None = None,
                   env: Any = None) -> list[EvalItem]:
    """``sampling.n`` completions per prompt from the rollout engine ``engine``; with ``env``
    (`rlfb.environments.episodes.EnvSettings`) each is a multi-turn episode of that
    environment, its final assistant message the completion and its counters the episode."""
    from rlfb.environments.episodes import build_engine

    eng = build_engine(engine, model_path, dict(engine_options or {}), env)
    try:
        rollouts = eng.generate(list(prompts), sampling)
    finally:
        eng.close()
    by_id = {p.prompt_id: p for p in prompts}
    return [EvalItem(r.prompt_id, r.sample_index, prompt_text(by_id[r.prompt_id]),
                     by_id[r.prompt_id].reference, r.text, r.finish_reason, r.episode)
            for r in rollouts]


def load_completions(path: str, fields: Fields) -> list[EvalItem]:
    """Items from a jsonl file of ``{prompt, reference, completion}`` rows. Rows with the same
    prompt (or the same ``fields.id`` value) form one prompt's samples."""
    file = Path(path)
    if not file.is_file():
        raise RlfbError(f"completions file {path!r} does not exist; give a jsonl file with "
                        f"{fields.prompt}, {fields.reference} and {fields.completion} fields")
    items: list[EvalItem] = []
    seen: Counter[str] = Counter()
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RlfbError(f"{path} line {number} is not JSON: {exc.msg}") from None
        wanted = [fields.prompt, fields.completion] + ([fields.id] if fields.id else [])
        missing = [f for f in wanted if not isinstance(row, dict) or f not in row]
        if missing:
            raise RlfbError(f"{path} line {number} has no {missing[0]!r} field; name the "
                            "columns with --prompt-field/--completion-field/--id-field")
        prompt = row[fields.prompt]
        text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        pid = str(row[fields.id]) if fields.id else text
        items.append(EvalItem(pid, seen[pid], text, row.get(fields.reference),
                              str(row[fields.completion]), row.get("finish_reason")))
        seen[pid] += 1
    if not items:
        raise RlfbError(f"completions file {path!r} has no rows")
    return items


def _single_verdicts(results: Sequence[Any], reward_name: str) -> list[Any]:
    """The one verifier result inside each reward result (for accuracy without --verifier)."""
    out = []
    for res in results:
        if len(res.verify_results) != 1:
            names = ", ".join(res.verify_results) or "none"
            raise RlfbError(f"reward {reward_name!r} reports {len(res.verify_results)} verifier "
                            f"results ({names}); pass --verifier NAME to choose the verifier "
                            "that decides accuracy")
        out.append(next(iter(res.verify_results.values())))
    return out


def _detect(detector: Any, texts: Sequence[str]) -> list[Any]:
    """Detections, with None for a text whose detection raised (a masked hedge record)."""
    try:
        return list(detector.detect_batch(list(texts)))
    except Exception:  # find the failing texts; the others still count
        out = []
        for text in texts:
            try:
                out.append(detector.detect(text))
            except Exception:  # the detector failed, not the answer: masked, counted
                out.append(None)
        return out


def score_items(items: Sequence[EvalItem], reward: Any, accuracy: Any | None,
                detector: Any) -> list[dict[str, Any]]:
    """One JSON-ready record per item: reward, components, statuses, correctness, hedge class
    and stated confidence."""
    texts = [it.completion for it in items]
    refs = [it.reference for it in items]
    results = reward.score_batch(texts, refs, [it.prompt_id for it in items])
    verdicts = (accuracy.verify_batch(texts, refs) if accuracy is not None
                else _single_verdicts(results, reward.name))
    detections = _detect(detector, texts)
    records = []
    for it, res, v, d in zip(items, results, verdicts, detections):
        records.append({
            **asdict(it), "reward": res.value, "components": dict(res.components),
            "statuses": {k: r.status.value for k, r in res.verify_results.items()},
            "accuracy_status": v.status.value, "extracted": v.extracted,
            "correct": (v.status.value == "correct") if v.judged else None,
            "hedge_class": d.hedge_class.value if d is not None else None,
            "confidence": d.confidence if d is not None else None,
        })
    return records


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The eval summary of scored records (see the module docstring)."""
    from rlfb.rewards.hedging.metrics import HedgeRecord, hedging_metrics
    from rlfb.rewards.hedging.detect import HedgeClass

    groups = stats.group_indices([r["prompt_id"] for r in records])
    verdicts = [[records[i]["correct"] for i in idx] for idx in groups.values()]
    n = max(len(idx) for idx in groups.values())
    judged = [r["correct"] for r in records if r["correct"] is not None]
    hedge = [HedgeRecord(HedgeClass(r["hedge_class"]), r["correct"], r["confidence"])
             if r["hedge_class"] is not None else HedgeRecord(HedgeClass.UNHEDGED, None)
             for r in records]
    statuses = Counter(f"{name}/{s}" for r in records for name, s in r["statuses"].items())
    finished = [r["finish_reason"] for r in records if r["finish_reason"] is not None]
    episodes = [r["episode"] for r in records if r.get("episode") is not None]
    return {
        "prompts": len(groups), "samples": len(records), "samples_per_prompt": n,
        "accuracy": sum(judged) / len(judged) if judged else None,
        "judged": len(judged), "judge_failed": len(records) - len(judged),
        "accuracy_statuses": dict(sorted(Counter(r["accuracy_status"] for r in records).items())),
        "pass_at_k": {str(k): v for k, v in
                      stats.pass_at_k_judged(verdicts, stats.pass_ks(n)).items()},
        "reward": stats.distribution([r["reward"] for r in records]),
        "components": stats.component_means([r["components"] for r in records]),
        "reward_statuses": dict(sorted(statuses.items())),
        "hedging": hedging_metrics(hedge),
        "calibration": calibration(records),
        "length_clipped_frac": (sum(f == "length" for f in finished) / len(finished)
                                if finished else None),
        "episodes": episode_summary(episodes) or None,
    }


def calibration(records: Sequence[dict[str, Any]], n_bins: int = 10) -> dict[str, Any] | None:
    """ECE and reliability bins over judged records that state a confidence (None if none)."""
    from rlfb.rewards.hedging.metrics import expected_calibration_error

    stated = [r for r in records if r["confidence"] is not None and r["correct"] is not None]
    if not stated:
        return None
    conf = [float(r["confidence"]) for r in stated]
    corr = [bool(r["correct"]) for r in stated]
    return {"n": len(stated), "n_bins": n_bins, "mean_confidence": sum(conf) / len(conf),
            "accuracy": sum(corr) / len(corr),
            "ece": expected_calibration_error(conf, corr, n_bins),
            "bins": stats.reliability_bins(conf, corr, n_bins)}


def write_eval(out_dir: Path, summary: dict[str, Any], records: Sequence[dict[str, Any]],
               settings: dict[str, Any]) -> dict[str, Path]:
    """Write eval.json (settings + summary), eval_samples.jsonl, the reliability PNG (when
    confidences are stated) and eval.md; returns the paths by kind."""
    from rlfb.evaluation.markdown import eval_markdown
    from rlfb.evaluation.plots import reliability_diagram

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval.json", "samples": out_dir / "eval_samples.jsonl",
             "markdown": out_dir / "eval.md"}
    if summary["calibration"] is not None:
        paths["reliability"] = reliability_diagram(summary["calibration"],
                                                   out_dir / "reliability.png")
    paths["json"].write_text(json.dumps({"settings": settings, **summary}, indent=2,
                                        default=str) + "\n")
    with paths["samples"].open("w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    png = paths["reliability"].name if "reliability" in paths else None
    paths["markdown"].write_text(eval_markdown(summary, settings, png))
    return paths

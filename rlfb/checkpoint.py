"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a folder ``RUN_DIR/checkpoints/step-000012/`` holding

- ``learner/``: the policy (an HF folder, or a PEFT adapter under LoRA) and ``optimizer.pt``,
  written by the learner itself. A sharded (FSDP) learner group writes the optimiser state as a
  `torch.distributed.checkpoint` folder ``learner/optimizer/`` instead (``optimizer.pt`` then
  holds ``"optimizer": None``); `load_optimizer_state` reads either into any learner, sharded
  over any number of ranks or not, so a run resumes across rank counts;
- ``state.pt``: the step, the data position, the RNG states (Python, NumPy, torch) and any
  further controller state.

It is written to a temporary folder and renamed into place, so a crash never leaves a half
checkpoint that `latest_checkpoint` would pick.
"""

from __future__ import annotations

import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rlfb.errors import RlfbError

CHECKPOINTS = "checkpoints"
#: The learner part's sharded optimiser state (`torch.distributed.checkpoint` folder).
OPTIMIZER_DCP = "optimizer"
_NAME = re.compile(r"step-(\d+)$")


def rng_state() -> dict[str, Any]:
    """The state of every random generator the loop uses."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generators saved by `rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return Path(run_dir) / CHECKPOINTS / f"step-{step:06d}"


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any],
                    save_learner: Callable[[Path], None], keep: int | None = None) -> Path:
    """Write a checkpoint atomically; keep only the newest ``keep`` (None keeps all)."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_learner(tmp / "learner")
    torch.save({"step": step, "rng": rng_state(), **state}, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep is not None:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.match(p.name) and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_state(checkpoint: str | Path) -> dict[str, Any]:
    """The controller state of a checkpoint (RNG states are restored by the caller)."""
    path = Path(checkpoint) / "state.pt"
    if not path.exists():
        raise RlfbError(f"{checkpoint} is not an rlfb checkpoint (no state.pt)")
    return torch.load(path, weights_only=False)


def check_loaded_keys(model: Any, missing: list[str], unexpected: list[str], path: Path,
                      role: str = "model") -> None:
    """Raise `RlfbError` unless a checkpoint's weights filled ``model`` exactly (the ``missing``
    and ``unexpected`` keys of a non-strict ``load_state_dict``). A tied output layer is saved
    once, as the embedding, so its missing ``lm_head.weight`` is expected."""
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    missing = [m for m in missing if not (tied and m == "lm_head.weight")]
    if missing or unexpected:
        raise RlfbError(f"the {role} weights in {path} do not match the model: missing "
                        f"{list(missing)}, unexpected {list(unexpected)}; resume with the "
                        "model.path (and model.lora settings) the run was trained with")


def _parameter_names(model: Any) -> list[str]:
    """Names of the trainable parameters, in the order a learner hands them to its optimiser."""
    return [name for name, p in model.named_parameters() if p.requires_grad]


def _is_sharded(model: Any) -> bool:
    """Whether ``model`` is sharded with FSDP2 (its parameters are DTensors)."""
    import torch.distributed as dist

    if not dist.is_available():
        return False
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def load_optimizer_state(model: Any, optimizer: torch.optim.Optimizer,
                         learner_dir: str | Path) -> dict[str, Any]:
    """Restore ``optimizer`` (over ``model``'s trainable parameters) from a learner's checkpoint
    part, whoever wrote it: the index-keyed state of ``optimizer.pt`` (one process, or a ``ddp``
    group's rank 0) or the sharded DCP folder of an ``fsdp`` group, into a plain or a sharded
    model. Returns the rest of ``optimizer.pt`` (``scheduler``, ``version``)."""
    path = Path(learner_dir)
    saved = torch.load(path / "optimizer.pt", weights_only=False)
    if saved["optimizer"] is None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            get_optimizer_state_dict,
            set_optimizer_state_dict,
        )

        folder = path / OPTIMIZER_DCP
        if not folder.is_dir():
            raise RlfbError(f"{path}/optimizer.pt points to a sharded optimiser state, but "
                            f"{folder} is missing")
        state = {"optimizer": get_optimizer_state_dict(model, optimizer)}
        with warnings.catch_warnings():  # one process reading a sharded state is intended
            warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a "
                                    "single process.*")
            dcp.load(state, checkpoint_id=str(folder))
        set_optimizer_state_dict(model, optimizer, state["optimizer"])
    elif _is_sharded(model):
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_optimizer_state_dict,
        )

        names = _parameter_names(model)
        full = saved["optimizer"]
        by_name = {"state": {names[i]: s for i, s in full["state"].items()},
                   "param_groups": [{**g, "params": [names[i] for i in g["params"]]}
                                    for g in full["param_groups"]]}
        set_optimizer_state_dict(model, optimizer, by_name,
                                 options=StateDictOptions(full_state_dict=True))
    else:
        optimizer.load_state_dict(saved["optimizer"])
    return saved

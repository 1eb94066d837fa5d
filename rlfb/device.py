"""Where a learner runs and in what precision: the one home of device-specific code.

- `resolve_device` turns ``learner.device`` ("auto", "cpu", "cuda", "cuda:N") into a
  ``torch.device``. "auto" is the first CUDA device this process can see, else the CPU. Inside a
  Ray actor, Ray sets ``CUDA_VISIBLE_DEVICES`` to the GPUs it gave the actor
  (``ray.<role>.num_gpus``) and to nothing when it gave none, so "auto" is the actor's own GPU,
  or the CPU when it got no GPU.
- `autocast` is the learner's mixed precision: parameters, gradients and optimiser states stay
  in their own dtype (float32 by default: the master weights) and only the forward pass runs in
  bfloat16 under ``torch.autocast``. A bfloat16 weight has 8 bits of mantissa, so an update
  smaller than 1/256 of a weight would be rounded away; the float32 master copy keeps it. This is
  what verl's and OpenRLHF's mixed precision amounts to on one device. Logprobs and entropies
  are computed from the logits in float32 whatever the forward dtype
  (`rlfb.learner.logprobs`).
- `peak_memory` reads the process's peak resident memory and, on CUDA, the peak allocated by
  torch, for the per-role metrics. `role_memory` does the same in any role's process without
  importing torch there (a scorer that never loaded torch should not pay for it in its figure).

Importing this module does not import torch (the Ray role hosts import it).
"""

from __future__ import annotations

import contextlib
import re
import resource
import sys
from typing import TYPE_CHECKING, Any

from rlfb.config.schema import DEVICE_SPEC
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: ``learner.dtype`` names → the autocast dtype's name in torch (None: no autocast).
COMPUTE_DTYPES: dict[str, str | None] = {"float32": None, "bfloat16": "bfloat16"}


def check_device_spec(spec: str, setting: str = "learner.device") -> str | None:
    """None when ``spec`` is a valid device setting (`rlfb.config.schema.DEVICE_SPEC`), else a
    one-line error message naming ``setting``.

    >>> [check_device_spec(s) is None for s in ("auto", "cpu", "cuda", "cuda:1", "gpu", "cuda:x")]
    [True, True, True, True, False, False]
    """
    if re.fullmatch(DEVICE_SPEC, spec):
        return None
    return f"{setting} must be auto, cpu, cuda or cuda:N, got {spec!r}"


def resolve_device(spec: str = "auto", setting: str = "learner.device") -> torch.device:
    """The torch device for ``spec`` (module docstring); a CUDA device that is not there is a
    `ConfigError` naming ``setting`` and what this process can see. Learners and the reward-model
    scorer (``setting="reward.options.device"``) both place their models with it."""
    import torch

    problem = check_device_spec(spec, setting)
    if problem:
        raise ConfigError(problem)
    if spec == "cpu":
        return torch.device("cpu")
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if spec == "auto":
        return torch.device("cuda", 0) if visible else torch.device("cpu")
    index = int(spec.partition(":")[2] or 0)
    if index >= visible:
        raise ConfigError(f"{setting}={spec} but this process sees {visible} CUDA "
                          "device(s); use auto or cpu, or give the role GPUs "
                          "(ray.<role>.num_gpus)")
    return torch.device("cuda", index)


def compute_dtype(name: str) -> torch.dtype | None:
    """The autocast dtype of ``learner.dtype`` ``name`` (None for float32: no autocast)."""
    import torch

    if name not in COMPUTE_DTYPES:
        raise ConfigError(f"learner.dtype must be one of {sorted(COMPUTE_DTYPES)}, got {name!r}")
    dtype = COMPUTE_DTYPES[name]
    return None if dtype is None else getattr(torch, dtype)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """A context in which forward passes on ``device`` run in ``dtype`` (module docstring);
    a no-op for None."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor field moved to ``device`` (a dataclass of tensors, such as
    `rlfb.types.ExperienceBatch`, is copied; other values are returned as they are)."""
    import dataclasses

    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: getattr(obj, f.name).to(device) for f in dataclasses.fields(obj)
                   if isinstance(getattr(obj, f.name), torch.Tensor)}
        return dataclasses.replace(obj, **changes)
    return obj


def peak_rss_bytes() -> int:
    """This process's peak resident set size in bytes (``getrusage``; the kernel keeps it)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def peak_memory(device: torch.device | None = None) -> dict[str, float]:
    """``{"peak_rss_gb": ...}`` of this process, plus ``"cuda_max_allocated_gb"`` (torch's
    peak allocation since the process started) when ``device`` is a CUDA device."""
    out = {"peak_rss_gb": peak_rss_bytes() / 2**30}
    if device is not None and device.type == "cuda":
        import torch

        out["cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def role_memory() -> dict[str, float]:
    """`peak_memory` of this process, on its current CUDA device when torch is loaded and has
    used CUDA here; imports nothing."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return peak_memory(torch.device("cuda", torch.cuda.current_device()))
    return peak_memory()


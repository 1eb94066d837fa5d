"""What the installed distribution provides, and how light `import rlfb` is."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_no_top_level_verifiers_or_rewards_module_is_installed():
    dist = metadata.distribution("rlfb")
    top = (dist.read_text("top_level.txt") or "").split()
    assert "verifiers" not in top and "rewards" not in top
    # The editable finder maps package names to folders: only rlfb.* names may appear.
    for path in dist.files or []:
        if path.name.startswith("__editable__") and path.suffix == ".py":
            text = path.read_text()
            assert "'verifiers':" not in text and "'rewards':" not in text
            assert "'rlfb.verifiers':" in text and "'rlfb.rewards':" in text


def test_top_level_verifiers_stays_free_for_pypi_package(tmp_path):
    """From a neutral directory, `import verifiers` must not find rlfb's folder."""
    code = "import importlib.util as u; print(u.find_spec('verifiers'), u.find_spec('rewards'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["None", "None"]


def test_import_rlfb_is_light():
    code = ("import sys, rlfb, rlfb.verifiers, rlfb.rewards, rlfb.registry, rlfb.cli;"
            "heavy = [m for m in ('ray', 'vllm', 'torch', 'transformers', 'torch.distributed')"
            " if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_source_folder_is_a_package_setup_py_finds():
    """setup.py discovers subpackages; a folder with .py files but no __init__.py is a bug."""
    for root in ("rlfb", "verifiers", "rewards"):
        for folder in [REPO / root, *(p for p in (REPO / root).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__":
                continue
            if any(folder.glob("*.py")):
                assert (folder / "__init__.py").exists(), f"{folder} lacks __init__.py"


def test_source_files_stay_under_500_lines():
    """Files over ~400 lines usually hold more than one idea (STYLE.md)."""
    long = []
    for root in ("rlfb", "verifiers", "rewards"):
        for path in (REPO / root).rglob("*.py"):
            n = len(path.read_text().splitlines())
            if n > 500:
                long.append(f"{path.relative_to(REPO)} ({n})")
    assert not long, long

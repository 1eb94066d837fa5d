"""Package mapping for rlfb.

`verifiers/` installs as `rlfb.verifiers` and `rewards/` as `rlfb.rewards`. Nothing is installed
under the top-level names `verifiers` or `rewards`: PyPI's `verifiers` package must stay
importable beside rlfb. Subpackages are found automatically, so adding one needs no edit here.
"""

from setuptools import find_packages, setup

ROOTS = {"rlfb": "rlfb", "rlfb.verifiers": "verifiers", "rlfb.rewards": "rewards"}


def _packages() -> list[str]:
    found = []
    for name, directory in ROOTS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(directory))
    return sorted(set(found))


# Golden cases are data files beside their modules (see rlfb/golden.py).
setup(packages=_packages(), package_dir=ROOTS, package_data={"": ["*_cases.jsonl"]})

"""Is this machine's software inside the range the tutorial was tested with?

Colab and Kaggle come with their own torch and transformers, and `pip install` keeps them whenever
they satisfy our range, so the ranges in `pyproject.toml` are promises (CI tests both ends of them).
Here the installed versions are compared with those ranges, so a notebook can say in one line what to
upgrade instead of failing somewhere deep inside a lesson.
"""

from __future__ import annotations

import importlib.metadata
import re

DISTRIBUTION = "bllossom-tutorial"
# The direct dependencies a notebook reports; the rest are checked by pip at install time.
CHECKED = ("torch", "transformers", "accelerate", "tokenizers", "huggingface_hub", "peft", "trl")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tested_ranges(distribution: str = DISTRIBUTION) -> dict[str, str]:
    """{package: specifier} from the installed tutorial's own metadata (empty if it is not installed)."""
    from packaging.requirements import Requirement

    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    ranges = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is None:  # extras (lab, test, gpu) are optional
            ranges[_canonical(requirement.name)] = str(requirement.specifier)
    return ranges


def outside_range(versions: dict[str, str], ranges: dict[str, str], names=CHECKED) -> list[str]:
    """One line per installed package whose version is outside its tested range, with the fix."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    lines = []
    for name in names:
        installed, wanted = versions.get(name), ranges.get(_canonical(name))
        if not installed or installed == "not installed" or not wanted:
            continue
        try:
            inside = Version(installed.split("+")[0]) in SpecifierSet(wanted)
        except InvalidVersion:
            continue
        if not inside:
            lines.append(f"{name} {installed} is outside the tested range {wanted}: {upgrade_command(name, wanted)}.")
    return lines


def upgrade_command(name: str, wanted: str) -> str:
    """The fix for a package outside its tested range, as a learner types it."""
    return f'pip install -U "{name}{wanted}", then restart the kernel'


def private_api_message(package: str, what: str, problem: str) -> str:
    """What to say when a private API of `package` that the tutorial relies on has moved: the tested
    range and the install command, instead of an AttributeError deep inside a lesson."""
    wanted = tested_ranges().get(_canonical(package), "")
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        installed = "not installed"
    fix = upgrade_command(package, wanted) if wanted else "install the versions pyproject.toml names"
    return (f"This lesson calls {what}, a private part of {package} that moves between releases, and it "
            f"failed with {package} {installed} ({problem}). The tutorial is tested with "
            f"{package}{wanted or ' as pinned in pyproject.toml'}: {fix}.")


def loaded_versions(names=CHECKED) -> dict[str, str]:
    """Versions of the packages this Python process has already imported: {name: version}."""
    import sys

    loaded = {}
    for name in names:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            loaded[name] = version
    return loaded


def restart_needed(installed: dict[str, str], loaded: dict[str, str]) -> list[str]:
    """One line per package whose imported version is not the installed one, and what to do.

    Colab imports some packages before the setup cell runs; when `pip install` then upgrades one (to
    reach our tested range), the kernel keeps the old copy in memory until it restarts.
    """
    lines = []
    for name, old in loaded.items():
        new = installed.get(name)
        if new and new != "not installed" and new.split("+")[0] != old.split("+")[0]:
            lines.append(f"{name} {old} is still loaded, but pip installed {new}: restart the kernel "
                         "(Colab/Kaggle: Runtime > Restart session), then run the notebook from the top. "
                         "· 커널을 다시 시작한 뒤 처음부터 실행하세요.")
    return lines

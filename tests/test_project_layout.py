"""The README's two commands, CI and the conda file agree with each other and with pyproject."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv .+)\n```", README)


def test_readme_has_the_two_newcomer_commands():
    setup_and_run, setup_and_test = _readme_commands()
    assert setup_and_run.startswith("python3 -m venv .venv") and "torch==2.13.0" in setup_and_run
    assert setup_and_run.endswith("-m helpers.run_notebooks")
    assert setup_and_test.endswith("-m pytest") and "HF_HUB_OFFLINE=1" in setup_and_test


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci.splitlines()


def test_torch_is_installed_before_the_project():
    for command in _readme_commands():
        assert command.index("torch==2.13.0") < command.index("-e \".[")


def test_conda_environment_installs_the_project_instead_of_a_second_list():
    conda = (ROOT / "environment.yml").read_text()
    assert "-e .[test]" in conda
    assert "transformers" not in conda and "torch" not in conda


def test_pyproject_lists_the_packages_the_tutorial_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", dep)[0].lower() for dep in project["dependencies"]}
    assert {"torch", "transformers", "accelerate", "ipywidgets", "openai"} <= names
    assert any(dep.startswith("transformers[serving]") for dep in project["dependencies"])
    extras = " ".join(sum(project["optional-dependencies"].values(), []))
    for package in ("jupyterlab", "nbval", "pytest", "bitsandbytes", "vllm"):
        assert package in extras


UNTESTED_FLOORS: set[str] = set()  # none: torch's floor runs too, as a CUDA build from PyPI on the CPU


def test_the_oldest_run_installs_torch_at_its_pinned_floor_first():
    script = (ROOT / ".ci" / "run-oldest").read_text()
    assert script.index("-c constraints/oldest.txt torch") < script.index("-c constraints/oldest.txt -e")


def test_every_floor_is_pinned_in_the_oldest_constraints():
    """constraints/oldest.txt (what .ci/run-oldest installs) pins each direct dependency at exactly
    the lower bound pyproject.toml promises, so the promise is what the oldest run tests."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    def canonical(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pins = {}
    for line in (ROOT / "constraints" / "oldest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = Version(version)
    for text in project["dependencies"] + extras["lab"] + extras["test"]:
        requirement = Requirement(text)
        name = canonical(requirement.name)
        if name == "bllossom-tutorial" or name in UNTESTED_FLOORS:
            continue
        floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
        assert floors, f"{text}: every direct dependency needs a tested lower bound"
        assert pins.get(name) == floors[0], f"{name}: pyproject says >={floors[0]}, oldest.txt pins {pins.get(name)}"

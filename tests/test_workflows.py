"""The GitHub Actions workflows: actionlint finds nothing, and they run the README's commands.

The commands are read from README.md and .ci/run, not copied here, so a change of the
README's test command that the workflows do not follow fails this test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
#: A README line that installs the runner, then runs one nox session.
_NOX_COMMAND = re.compile(r"^python -m pip install -r requirements/nox\.txt && python -m nox -s (?P<session>[\w-]+)$")


def _workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def readme_command(session: str) -> str:
    """The README's command line (pip install, then nox) that runs nox ``session``."""
    lines = [line.strip() for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()]
    found = [line for line in lines if (match := _NOX_COMMAND.match(line)) and match["session"] == session]
    assert len(found) == 1, f"README.md: expected one `... && python -m nox -s {session}` line, found {found}"
    return found[0]


def run_lines(workflow: Path) -> list[str]:
    """Every line of the ``run:`` scripts of the workflow's steps, stripped."""
    jobs = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]
    scripts = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    return [line.strip() for script in scripts for line in script.splitlines() if line.strip()]


def test_there_are_workflows() -> None:
    names = {path.name for path in _workflow_files()}
    assert {"tests.yml", "publish.yml", "latest.yml"} <= names, names


def _tool(name: str) -> str:
    """The program ``name`` installed beside this Python (the test extra), else on PATH."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: it comes with the test extra (`pip install -e .[test]`)")
    return found


def test_actionlint_finds_nothing() -> None:
    """actionlint, with shellcheck on every `run:` script, reports no finding."""
    files = [str(path.relative_to(ROOT)) for path in _workflow_files()]
    command = [_tool("actionlint"), "-shellcheck", _tool("shellcheck"), "-no-color", "-oneline", *files]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stdout.strip(), f"actionlint:\n{result.stdout}{result.stderr}"


def test_ci_script_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_command("tests") in [line.strip() for line in script]


def test_tests_workflow_runs_the_readme_test_command_on_every_change() -> None:
    workflow = WORKFLOWS / "tests.yml"
    text = workflow.read_text(encoding="utf-8")
    assert re.search(r"^  pull_request:", text, re.M) and re.search(r"^  push:", text, re.M)
    assert 'python-version: "3.11"' in text and "runs-on: ubuntu-latest" in text
    command = readme_command("tests")
    assert any(line == command or line.startswith(command + " ") for line in run_lines(workflow)), (
        f"{workflow.name} does not run the README test command: {command}"
    )


def test_latest_workflow_runs_the_unpinned_session_weekly() -> None:
    workflow = WORKFLOWS / "latest.yml"
    text = workflow.read_text(encoding="utf-8")
    assert "schedule:" in text and "cron:" in text and "workflow_dispatch:" in text
    command = readme_command("tests").removesuffix("tests") + "tests-latest"
    assert any(line.startswith(command) for line in run_lines(workflow)), f"{workflow.name}: no `{command}`"
    assert "constraints" not in " ".join(run_lines(workflow))


def test_publish_workflow_builds_with_the_readme_command_and_pushes_gh_pages() -> None:
    workflow = WORKFLOWS / "publish.yml"
    lines = run_lines(workflow)
    assert readme_command("docs") in lines
    assert any("ghp-import" in line for line in lines)
    assert re.search(r"^    branches: \[main\]", workflow.read_text(encoding="utf-8"), re.M)


@pytest.mark.parametrize("name", ["tests.yml", "publish.yml", "latest.yml"])
def test_workflow_caches_the_mnist_download_folder(name: str) -> None:
    """The folder the tests download MNIST into when no shared copy exists is kept between runs."""
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert "path: ~/.cache/torchprimer/MNIST/raw" in text

"""The CI recipe for course repositories (.github/workflows/lessons.yml) runs what the README promises."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "lessons.yml"


def readme_test_command() -> str:
    """The test command of the README's first code block (the line that runs scripts/test.sh, comment cut)."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if "scripts/test.sh" in line]
    assert len(commands) == 1, commands
    return commands[0]


def _workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def _uses(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def test_the_readme_command_is_what_ci_and_the_workflow_run():
    command = readme_test_command()
    assert command == "bash scripts/test.sh"
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == [command]
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))       # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers
    assert _runs(workflow["jobs"]["test"]) == [command]


def test_the_workflow_caches_pip_and_the_rendered_dsprites():
    for name, job in _workflow()["jobs"].items():
        (python,) = _uses(job, "actions/setup-python")
        assert python["with"]["cache"] == "pip" and str(python["with"]["python-version"]) == "3.11", name
        (cache,) = _uses(job, "actions/cache")
        paths = cache["with"]["path"].split()
        assert "~/.cache/dvae_tutorial" in paths, name
        assert "!~/.cache/dvae_tutorial/runs" in paths, name   # trained runs are not reused: CI trains them
        hashed = re.findall(r"'([^']+)'", re.search(r"hashFiles\((.*?)\)", cache["with"]["key"]).group(1))
        assert "dvae_tutorial/data/render.py" in hashed, name
        assert all((ROOT / f).is_file() for f in hashed), hashed


def test_the_site_job_builds_the_html_site_with_a_valid_command_and_uploads_it():
    from dvae_tutorial.__main__ import build_parser

    site = _workflow()["jobs"]["site"]
    runs = _runs(site)
    assert runs[0] == "bash scripts/setup.sh"
    prefix = ".venv/bin/python -m dvae_tutorial "
    (build,) = [r for r in runs if r.startswith(prefix)]
    args = build_parser().parse_args(build[len(prefix):].split())    # the command exists with these options
    assert args.command == "html" and Path(args.out) == Path("site")
    (upload,) = _uses(site, "actions/upload-artifact")
    assert Path(upload["with"]["path"]) == Path("site")


def test_the_tests_install_the_sweep_extra():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(spec.startswith("ray[tune]==") for spec in extras["sweep"])
    assert any(spec.startswith("pyyaml") for spec in extras["test"])
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "DVAE_TUTORIAL_EXTRAS=test,sweep bash scripts/setup.sh" in test_sh
    assert 'install -q -e ".[$EXTRAS]"' in (ROOT / "scripts" / "setup.sh").read_text()

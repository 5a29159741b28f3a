"""Every lesson opens in Colab: its first code cell installs the course where it is missing, and only there."""
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import tomllib

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# course set-up (Colab):"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _project() -> tuple[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["urls"]["Repository"].rstrip("/"), project["version"]


def _first_code_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def test_every_lesson_starts_with_the_same_pinned_setup_cell():
    repo, version = _project()
    cells = {path.name: _first_code_cell(path) for path in LESSONS}
    assert all(source.startswith(MARKER) for source in cells.values()), [n for n, s in cells.items()
                                                                        if not s.startswith(MARKER)]
    assert len(set(cells.values())) == 1, "the set-up cell differs between lessons"
    source = next(iter(cells.values()))
    assert f"dvae-tutorial @ git+{repo}@v{version}" in source      # the repository's version, from pyproject
    assert len(source.splitlines()) <= 6


def _run_cell(monkeypatch, installed: bool) -> tuple[list, dict]:
    calls = []

    def no_process(*args, **kwargs):
        calls.append(args[0] if args else kwargs.get("args"))
        return 0

    for name in ("check_call", "call", "run", "Popen", "check_output"):
        monkeypatch.setattr(subprocess, name, no_process)
    if not installed:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dvae_tutorial"
                            else real(name, *a))
    namespace = {}
    exec(compile(_first_code_cell(LESSONS[0]), "setup-cell", "exec"), namespace)
    return calls, namespace


def test_where_the_course_is_installed_the_cell_does_nothing(monkeypatch):
    assert importlib.util.find_spec("dvae_tutorial") is not None
    calls, namespace = _run_cell(monkeypatch, installed=True)
    assert calls == []
    assert "course" not in namespace and "keep_torch" not in namespace


def test_where_the_course_is_missing_it_is_installed_from_the_repository_keeping_torch(monkeypatch):
    repo, version = _project()
    calls, _ = _run_cell(monkeypatch, installed=False)
    torch_version = importlib.metadata.version("torch").split("+")[0]
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", f"dvae-tutorial @ git+{repo}@v{version}",
                      f"torch=={torch_version}"]]


def test_the_readme_links_every_lesson_to_colab():
    repo, _ = _project()
    owner_repo = re.sub(r"^https://github\.com/", "", repo)
    readme = (ROOT / "README.md").read_text()
    for path in LESSONS:
        url = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.name}"
        assert f"]({url})" in readme, path.name

"""The project's own promises: the README's commands, CI, and matching dependency lists."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    yaml = pytest.importorskip("yaml")
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_specs = {_requirement_name(s): s for s in pip_block if not s.startswith("-e")}
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    py_specs = {_requirement_name(s): s for s in wanted}
    assert set(env_specs) == set(py_specs)
    for name, spec in py_specs.items():
        if name != "torch":
            assert env_specs[name] == spec, name
    # torch: the pin must satisfy the range, and the range must exclude releases newer than it
    from packaging.specifiers import SpecifierSet

    assert env_specs["torch"] == "torch==2.13.0"
    torch_range = SpecifierSet(py_specs["torch"][len("torch"):])
    assert "2.13.0" in torch_range and "2.14.0" not in torch_range


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    first_screen = "\n".join(readme[:12])
    assert "bash scripts/course.sh" in first_screen and "bash scripts/test.sh" in first_screen
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == ["bash scripts/test.sh"]


def test_setup_never_installs_an_unpinned_torch():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "install" in line and "torch" in line and "pip" in line.lower()]
    assert installs and all("torch==2.13.0" in line for line in installs)


def test_committed_notebooks_hold_no_outputs():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} holds outputs"


def test_docstrings_point_to_a_design_document_in_the_repository():
    design = ROOT / "docs" / "design.md"
    assert design.exists()
    sources = list((ROOT / "dvae_tutorial").rglob("*.py")) + list((ROOT / "tests").rglob("*.py"))
    for path in sources:
        assert "DESIGN" + ".md" not in path.read_text(), f"{path} refers to a design file that is not in the repository"
    text = design.read_text()
    for module in ("config", "files", "data", "models", "losses", "metrics", "train", "evaluation", "recipes",
                   "runs", "pretrained"):
        assert f"`{module}`" in text, module


def test_every_lesson_links_the_notation_page_at_its_top():
    """docs/notation.md gives each weight one name (beta, gamma_C, gamma_F, alpha/beta_TC/gamma_dw);
    every lesson points to it from its first cell, and the page exists where the link points."""
    page = ROOT / "docs" / "notation.md"
    text = page.read_text(encoding="utf-8")
    for name in (r"\gamma_C", r"\gamma_F", r"\beta_{TC}", r"\gamma_{dw}", "1 + \\gamma_F", "Common mistakes"):
        assert name in text, f"docs/notation.md lost {name!r}"
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(lessons) >= 7
    for path in lessons:
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        assert "](../docs/notation.md)" in first, f"{path.name}: the first cell must link ../docs/notation.md"
        assert (path.parent / "../docs/notation.md").resolve() == page.resolve()


def test_every_lesson_links_its_full_mode_page_and_the_page_is_committed():
    """Issue 13: a student who cannot run a lesson sees its full-mode figures and numbers in docs/lessons/."""
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    index = (ROOT / "docs" / "lessons" / "index.html").read_text(encoding="utf-8")
    assert "full mode" in index, "docs/lessons/ must be the full-mode build (scripts/build_docs.sh)"
    for path in lessons:
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        link = f"../docs/lessons/{path.stem}.html"
        assert f"]({link})" in first, f"{path.name}: the first cell must link {link}"
        page = (path.parent / link).resolve()
        assert page.is_file() and page.stat().st_size > 10_000, f"{page} is missing: run scripts/build_docs.sh"

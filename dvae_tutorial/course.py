"""Course tooling on nbgrader: the student version of the lessons, and grading of submissions.

The lessons are nbgrader assignments as they are: every exercise is a *solution* cell (the answer
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) followed by an *autograded test* cell (the
check, worth the exercise's points), and the set-up and exercise statements are *read-only* cells.
Both commands build a throw-away nbgrader course in a temporary folder, so an instructor needs no
nbgrader configuration:

- ``make_student_set``: nbgrader's ``generate_assignment`` (solutions replaced by its stub, outputs
  cleared, cells locked), one assignment per lesson;
- ``grade_folder``: nbgrader's ``autograde`` of every student's notebooks (locked and test cells
  restored from the lessons, each cell limited to ``timeout`` seconds), the points read from its
  gradebook: a test cell scores when its check ran without an error, whatever the notebook printed.
  Submissions nbgrader cannot take (not a notebook, a lesson not handed in) get a line saying why.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _api(root: Path, timeout: int = 600):
    """nbgrader's API on a course folder ``root`` with its own gradebook, configured here (no config files)."""
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        raise ImportError("student and grade run nbgrader, which is not installed: pip install nbgrader==0.9.6 "
                          "(or pip install -e '.[test]')") from None
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.timeout = int(timeout)
    c.Execute.interrupt_on_timeout = True
    c.Execute.raise_on_iopub_timeout = False   # a cell stopped by the timeout fails alone, the notebook goes on
    c.Execute.iopub_timeout = 30
    return NbGraderAPI(coursedir=CourseDirectory(config=c), config=c)


def _lessons(src_dir) -> list[Path]:
    src_dir = Path(src_dir)
    notebooks = sorted(p for p in src_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src_dir}: give the lessons folder (default: notebooks)")
    return notebooks


def _generate(api, root: Path, lessons: list[Path]) -> None:
    """``generate_assignment`` for every lesson: ``root/release/<lesson>/<lesson>.ipynb``."""
    for path in lessons:
        target = root / "source" / path.stem
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
        result = api.generate_assignment(path.stem)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not make the student version of {path.name}:\n{result.get('error', '')}"
                               f"\n{result.get('log', '')}")


def make_student_set(src_dir, out_dir) -> list[Path]:
    """Write the student version (nbgrader's release version) of every lesson of ``src_dir`` to ``out_dir``."""
    lessons = _lessons(src_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="dvae-course-") as tmp:
        root = Path(tmp)
        with _nbgrader_environment():
            _generate(_api(root), root, lessons)
        for path in lessons:
            target = out_dir / path.name
            shutil.copy(root / "release" / path.stem / path.name, target)
            written.append(target)
    return written


# --- grading --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _nbgrader_environment(fast: bool = True):
    """nbgrader starts its kernels with this process's environment, and runs ``alembic`` (its gradebook's
    migrations) from PATH: set the lessons' mode for the kernels and put this Python's scripts first on
    PATH (a virtual environment that is not activated), then restore."""
    from . import config

    before = dict(os.environ)
    env = config.kernel_environment(fast)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def _submissions(folder: Path) -> dict:
    """``{student: {lesson file name: path}}``: one sub-folder per student, or notebooks directly in ``folder``."""
    found: dict = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or path.parent.parent != folder and path.parent != folder:
            continue
        student = path.parent.name if path.parent != folder else path.stem
        found.setdefault(student, {})[path.name] = path
    return found


def _unreadable(path: Path) -> str | None:
    """Why nbgrader cannot take the notebook at ``path`` (None if it can)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:   # json, encoding, schema: the student's file, whatever is wrong with it
        return f"not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''})"
    return None


def _cell_errors(autograded: Path) -> tuple[dict, list]:
    """From an autograded notebook: ``{grade_id: "ErrorName: message" or ""}`` of its nbgrader cells in notebook
    order, and the cells (grade_id or "cell N") that ran past the timeout."""
    import nbformat

    messages, timeouts = {}, []
    nb = nbformat.read(autograded, as_version=4)
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(e.get("ename") == "CellTimeoutError" for e in errors):
            timeouts.append(grade_id or f"cell {index}")
        if grade_id:
            messages[grade_id] = (f"{errors[0].get('ename', 'error')}: {errors[0].get('evalue', '')}".strip()
                                  if errors else "")
    return messages, timeouts


def _lesson_result(gradebook, root: Path, lesson: str, student: str) -> dict:
    """Points of one autograded notebook from nbgrader's gradebook, with each failed check's message."""
    notebook = gradebook.find_submission_notebook(lesson, lesson, student)
    messages, timeouts = _cell_errors(root / "autograded" / student / lesson / f"{lesson}.ipynb")
    order = list(messages)
    exercises = []
    for grade in sorted(notebook.grades, key=lambda g: order.index(g.name) if g.name in order else len(order)):
        exercises.append({"grade_id": grade.name, "points": float(grade.score), "max_points": float(grade.max_score),
                          "message": messages.get(grade.name, "")})
    failed = next((e for e in exercises if e["points"] < e["max_points"]), None)
    problem = "" if failed is None else f"{failed['grade_id']}: {failed['message'] or 'failed'}"
    if timeouts:
        problem = f"CellTimeoutError: {', '.join(timeouts)} ran past the time limit; {problem}"
    return {"score": float(notebook.score), "max_score": float(notebook.max_score), "exercises": exercises,
            "problem": problem}


def grade_folder(folder, source="notebooks", timeout: int = 600, fast: bool = True) -> dict:
    """Autograde every submission under ``folder`` with nbgrader against the lessons in ``source``.

    Returns ``{student: {lesson file: {"score", "max_score", "exercises", "problem"}}}``; every
    student gets a line for every lesson any student handed in (0 points and the reason when the
    notebook is missing, unreadable or could not be run), and one bad notebook never stops the others.
    ``timeout`` limits each cell (an endless loop costs that cell, not the grading).
    """
    from nbgrader.api import Gradebook

    folder = Path(folder)
    found = _submissions(folder)
    if not found:
        raise FileNotFoundError(f"no submitted notebooks (*.ipynb) under {folder}: put them in "
                                f"{folder}/<student>/<lesson>.ipynb")
    lessons = {p.name: p for p in _lessons(source)}
    handed_in = sorted({name for notebooks in found.values() for name in notebooks})
    unknown = [name for name in handed_in if name not in lessons]
    graded = [name for name in handed_in if name in lessons]
    results: dict = {student: {} for student in found}
    with tempfile.TemporaryDirectory(prefix="dvae-grade-") as tmp:
        root = Path(tmp)
        api = _api(root, timeout)
        with _nbgrader_environment(fast):
            _generate(api, root, [lessons[name] for name in graded])
        for student, notebooks in found.items():
            for name in unknown:
                if name in notebooks:
                    results[student][name] = _line(0.0, f"not a lesson of {source}: nothing to grade it against")
            for name in graded:
                lesson = Path(name).stem
                if name not in notebooks:
                    results[student][name] = _line(0.0, "missing: this lesson was not handed in")
                    continue
                why = _unreadable(notebooks[name])
                if why:
                    results[student][name] = _line(0.0, why)
                    continue
                target = root / "submitted" / student / lesson
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(notebooks[name], target / name)
                with _nbgrader_environment(fast):
                    outcome = api.autograde(lesson, student)
                if not outcome["success"]:
                    last = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
                    results[student][name] = _line(0.0, f"nbgrader could not grade it: {last[-1] if last else ''}")
                    continue
                with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
                    results[student][name] = _lesson_result(gradebook, root, lesson, student)
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
            maxima = {Path(n).stem: float(gradebook.find_assignment(Path(n).stem).max_score) for n in graded}
    for notebooks in results.values():
        for name, line in notebooks.items():
            if line["max_score"] is None:
                line["max_score"] = maxima.get(Path(name).stem, 0.0)
    return results


def _line(score: float, problem: str) -> dict:
    return {"score": score, "max_score": None, "exercises": [], "problem": problem}


def grade_summary(results: dict) -> str:
    """A plain-text table: one line per student and lesson, points / maximum, first problem."""
    lines = [f"{'student':<16} {'notebook':<28} {'points':>9}  first problem"]
    for student, notebooks in results.items():
        for name, line in sorted(notebooks.items()):
            points = f"{line['score']:g}/{line['max_score']:g}"
            lines.append(f"{student:<16} {name:<28} {points:>9}  {line['problem'][:110]}")
    return "\n".join(lines)

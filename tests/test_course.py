"""Student set and grading on nbgrader: the release version hides the solutions, autograde's points come
from the checks (never from printed text), and bad submissions get a line without costing anyone else."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dvae_tutorial import course

ROOT = Path(__file__).resolve().parents[1]
LESSON00 = ROOT / "notebooks" / "00_ground_truth_data.ipynb"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _small_lesson00(path: Path) -> Path:
    """Lesson 00's set-up cell and its exercise section (statements, solutions, checks): the lesson as
    nbgrader grades it, without the figures in between (a few seconds a run)."""
    nb = nbformat.read(LESSON00, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == "lesson00-setup")
    first = next(i for i, c in enumerate(nb.cells) if "exercise1-statement" in _meta(c).get("grade_id", ""))
    nb.cells = [nb.cells[setup]] + nb.cells[first:]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _tiny_lesson(path: Path) -> Path:
    """A two-exercise lesson (the square's symmetry, the closed-form KL): quick to run."""
    def cell(kind, source, grade_id, points=None):
        c = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(source)
        c.metadata["nbgrader"] = {"grade": kind == "test", "grade_id": grade_id, "locked": kind != "solution",
                                  "schema_version": 3, "solution": kind == "solution", "task": False}
        if points:
            c.metadata["nbgrader"]["points"] = points
        return c

    nb = nbformat.v4.new_notebook()
    nb.cells = [cell("code", "import numpy as np\nfrom dvae_tutorial import checks", "tiny-setup"),
                cell("md", "**Exercise 1.** The smallest turn after which a square looks the same?", "tiny-statement"),
                cell("solution", "### BEGIN SOLUTION\nsquare_turn = np.pi / 2\n### END SOLUTION", "tiny-answer"),
                cell("test", 'from dvae_tutorial import checks\nchecks.check_symmetry_angle("square", square_turn)',
                     "tiny-square", 1),
                cell("solution", "def my_kl(mu, logvar):\n    ### BEGIN SOLUTION\n"
                                 "    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)\n    ### END SOLUTION", "tiny-kl"),
                cell("test", "from dvae_tutorial import checks\nchecks.check_kl_normal(my_kl)", "tiny-kl-check", 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _with_answer(source: Path, target: Path, grade_id: str, code: str, before: str | None = None) -> Path:
    """``source`` with the answer cell ``grade_id`` replaced by ``code`` (and a cell ``before`` inserted ahead of it)."""
    nb = nbformat.read(source, as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == grade_id)
    nb.cells[i].source = code
    if before is not None:
        nb.cells.insert(i, nbformat.v4.new_code_cell(before))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    _small_lesson00(folder / "00_ground_truth_data.ipynb")
    _tiny_lesson(folder / "99_tiny.ipynb")
    return folder


def test_student_set_is_nbgraders_release_version(lessons, tmp_path):
    written = course.make_student_set(lessons, tmp_path / "student")
    assert [p.name for p in written] == ["00_ground_truth_data.ipynb", "99_tiny.ipynb"]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        for c in nb.cells:
            assert "### BEGIN SOLUTION" not in c.source and "cumprod" not in c.source and "np.pi / 2" not in c.source
            if _meta(c).get("solution"):
                assert "raise NotImplementedError()" in c.source     # nbgrader's stub
            if c.cell_type == "code":
                assert not c.outputs
        assert any(_meta(c).get("grade") and "checks.check_" in c.source for c in nb.cells)   # the checks stay


def _set_cell(path: Path, grade_id: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if _meta(c).get("grade_id") == grade_id).source = source
    nbformat.write(nb, path)


@pytest.mark.slow
def test_grading_on_nbgrader_points_from_checks_and_bad_submissions_get_a_line(lessons, tmp_path):
    """One nbgrader run over five students: solved, unsolved release, delegating / printing / check-deleting,
    not JSON, a lesson missing; then nbgrader's own command line gives the same points."""
    from nbgrader.preprocessors import ClearSolutions

    from dvae_tutorial import data

    data.DSprites(), data.DSprites(image_size=32)      # the kernels load these from the cache, not render them
    subs = tmp_path / "submissions"
    l00, tiny = lessons / "00_ground_truth_data.ipynb", lessons / "99_tiny.ipynb"
    for student in ("alice", "carol", "mallory"):
        (subs / student).mkdir(parents=True, exist_ok=True)
        (subs / student / tiny.name).write_text(tiny.read_text())
    (subs / "alice" / l00.name).write_text(l00.read_text())
    release, _ = ClearSolutions().preprocess(nbformat.read(tiny, as_version=4), {})
    (subs / "bob").mkdir()
    nbformat.write(release, subs / "bob" / tiny.name)
    # mallory delegates (exercise 1 of lesson 00, the KL of the tiny lesson), prints "correct:" and wraps the
    # check in try/except (exercise 2), and deletes the check of exercise 3 before it runs
    _with_answer(l00, subs / "mallory" / l00.name, "lesson00-exercise1-answer",
                 "def my_index(factors, sizes):\n    return ds.index_of(factors)")
    m00 = subs / "mallory" / l00.name
    _set_cell(m00, "lesson00-exercise2-answer", 'ellipse_turn = heart_turn = 1.0\nprint("correct: yes")')
    _set_cell(m00, "lesson00-exercise2-symmetry_angle", 'try:\n    checks.check_symmetry_angle("ellipse", ellipse_turn)\n'
                                                         'except Exception:\n    print("correct: yes")')
    _with_answer(m00, m00, "lesson00-exercise3-answer",
                 "ds32 = data.DSprites(image_size=32)\nbytes_as_uint8 = len(ds32) * 32 * 32\nbytes_as_bits = bytes_as_uint8 // 8",
                 before="del checks.check_memory")
    _set_cell(subs / "mallory" / tiny.name, "tiny-kl", "from dvae_tutorial import losses\n\n"
                                                        "def my_kl(mu, logvar):\n    return losses.kl_normal(mu, logvar)")
    (subs / "carol" / l00.name).write_text("{ this is not a notebook")
    (subs / "dave").mkdir()
    (subs / "dave" / tiny.name).write_text(tiny.read_text())

    grades = course.grade_folder(subs, source=lessons, timeout=300)
    points = {(s, n): (g["score"], g["max_score"]) for s, nbs in grades.items() for n, g in nbs.items()}
    problem = {(s, n): g["problem"] for s, nbs in grades.items() for n, g in nbs.items()}
    assert points[("alice", l00.name)] == (4.0, 4.0) and points[("alice", tiny.name)] == (2.0, 2.0)
    assert points[("bob", tiny.name)] == (0.0, 2.0)                  # the unsolved release
    assert points[("bob", l00.name)] == (0.0, 4.0) and "missing" in problem[("bob", l00.name)]
    mallory = {e["grade_id"]: e for e in grades["mallory"][l00.name]["exercises"]}
    assert points[("mallory", l00.name)] == (0.0, 4.0)
    assert "write it yourself" in mallory["lesson00-exercise1-index_formula"]["message"]
    assert mallory["lesson00-exercise2-symmetry_angle"]["points"] == 0      # printing "correct:" earns nothing
    assert "AttributeError" in mallory["lesson00-exercise3-memory"]["message"]
    assert points[("mallory", tiny.name)] == (1.0, 2.0)              # only the delegated exercise is lost
    assert "write it yourself" in problem[("mallory", tiny.name)]
    assert points[("carol", l00.name)] == (0.0, 4.0) and "not a readable notebook" in problem[("carol", l00.name)]
    assert points[("carol", tiny.name)] == (2.0, 2.0)
    assert points[("dave", tiny.name)] == (2.0, 2.0)
    table = course.grade_summary(grades)
    assert len(table.splitlines()) == 1 + 2 * 5 and "not a readable notebook" in table and "4/4" in table

    # nbgrader's own command line on the tiny lesson: the same points
    course_dir = tmp_path / "nbgrader_course"
    (course_dir / "source" / "99_tiny").mkdir(parents=True)
    (course_dir / "source" / "99_tiny" / tiny.name).write_text(tiny.read_text())
    for student in ("alice", "mallory"):
        (course_dir / "submitted" / student / "99_tiny").mkdir(parents=True)
        (course_dir / "submitted" / student / "99_tiny" / tiny.name).write_text((subs / student / tiny.name).read_text())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    options = [f"--CourseDirectory.root={course_dir}", f"--CourseDirectory.db_url=sqlite:///{course_dir / 'gb.db'}"]
    for command in (["generate_assignment", "99_tiny"], ["autograde", "99_tiny"]):
        subprocess.run([sys.executable, "-m", "nbgrader", *command, *options], check=True, cwd=course_dir, env=env,
                       capture_output=True)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gb.db'}") as gradebook:
        theirs = {s: gradebook.find_submission("99_tiny", s).score for s in ("alice", "mallory")}
    assert theirs == {s: points[(s, tiny.name)][0] for s in theirs} == {"alice": 2.0, "mallory": 1.0}


@pytest.mark.slow
def test_an_endless_loop_costs_its_exercise_only(tmp_path):
    """Each cell may run ``timeout`` seconds: a loop that never ends fails its cell, the next exercise scores."""
    lesson = tmp_path / "lessons" / "98_micro.ipynb"
    nb = nbformat.v4.new_notebook()
    for k in (1, 2):
        answer = nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\nanswer{k} = {k}\n### END SOLUTION")
        answer.metadata["nbgrader"] = {"grade": False, "grade_id": f"answer{k}", "locked": False,
                                       "schema_version": 3, "solution": True, "task": False}
        test = nbformat.v4.new_code_cell(f"assert answer{k} == {k}")
        test.metadata["nbgrader"] = {"grade": True, "grade_id": f"test{k}", "locked": True, "points": 1,
                                     "schema_version": 3, "solution": False, "task": False}
        nb.cells += [answer, test]
    lesson.parent.mkdir()
    nbformat.write(nb, lesson)
    _with_answer(lesson, tmp_path / "submissions" / "dave" / lesson.name, "answer1", "while True:\n    pass")
    grades = course.grade_folder(tmp_path / "submissions", source=lesson.parent, timeout=5)
    line = grades["dave"][lesson.name]
    assert (line["score"], line["max_score"]) == (1.0, 2.0)
    assert line["problem"].startswith("CellTimeoutError: answer1 ran past the time limit; test1")


@pytest.mark.slow
def test_student_lesson_runs_up_to_its_first_exercise_and_stops(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from dvae_tutorial import config

    (path,) = [p for p in course.make_student_set(_small_lesson00(tmp_path / "src" / LESSON00.name).parent,
                                                  tmp_path / "student")]
    nb = nbformat.read(path, as_version=4)
    first_exercise = next(i for i, c in enumerate(nb.cells) if "YOUR CODE HERE" in c.source)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute(env=config.kernel_environment(True))
    assert err.value.ename == "ExerciseError" and "not solved yet" in err.value.evalue   # the check explains the stub
    executed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    assert max(executed) == first_exercise + 1          # everything up to the first check ran, nothing after


def test_grade_explains_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no submitted notebooks"):
        course.grade_folder(tmp_path, source=ROOT / "notebooks")

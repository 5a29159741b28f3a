"""Student versions: solutions stripped, checks kept, and the notebook stops at the first exercise."""
import os
from pathlib import Path

import nbformat
import pytest

from dvae_tutorial import checks, course

ROOT = Path(__file__).resolve().parents[1]


def test_function_solutions_become_a_raise():
    src = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\n"
           "checks.check_something(f)")
    out = course.strip_solutions(src)
    assert "x + 1" not in out and "return y" not in out
    assert '    raise NotImplementedError("YOUR CODE HERE")' in out
    assert out.endswith("checks.check_something(f)")
    compile(out, "<cell>", "exec")


def test_top_level_solutions_set_their_names_to_none():
    src = "### BEGIN SOLUTION\na = 3.14\nb, c = 1, 2\n### END SOLUTION\ncheck(a, b)"
    out = course.strip_solutions(src)
    assert out.splitlines() == ["# YOUR CODE HERE", "a = None", "b = None", "c = None", "check(a, b)"]


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="without"):
        course.strip_solutions("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without"):
        course.strip_solutions("x = 1\n### END SOLUTION")


def test_checks_explain_unanswered_exercises():
    with pytest.raises(checks.ExerciseError, match="not answered yet: angle is still None"):
        checks.check_symmetry_angle("ellipse", None)

    def stub(factors, sizes):
        raise NotImplementedError("YOUR CODE HERE")

    from dvae_tutorial import data
    ds = data.DSprites.small(progress=False)
    with pytest.raises(checks.ExerciseError, match="not solved yet"):
        checks.check_index_formula(stub, ds)


def test_student_set_strips_every_lesson(tmp_path):
    written = course.make_student_set(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in written:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "### BEGIN SOLUTION" not in cell.source
            if cell.cell_type == "code":
                assert not cell.outputs


def test_student_lesson_runs_up_to_its_first_exercise_and_stops_with_the_check(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = course.student_notebook(ROOT / "notebooks" / "00_ground_truth_data.ipynb")
    first_exercise = next(i for i, c in enumerate(nb.cells) if "YOUR CODE HERE" in c.source)
    os.environ["DVAE_TUTORIAL_FAST"] = "1"      # the kernel inherits it
    try:
        client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        with pytest.raises(CellExecutionError) as err:
            client.execute()
    finally:
        del os.environ["DVAE_TUTORIAL_FAST"]
    assert err.value.ename == "ExerciseError"
    assert "not solved yet" in err.value.evalue
    executed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    assert max(executed) == first_exercise              # everything before ran, nothing after
    assert all(not any(o.get("output_type") == "error" for o in nb.cells[i].outputs) for i in executed[:-1])


def _submission(path, answers):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom dvae_tutorial import checks")]
    for shape, answer in answers:
        nb.cells.append(nbformat.v4.new_code_cell(f'checks.check_symmetry_angle("{shape}", {answer})'))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_grading_a_folder_of_submissions(tmp_path):
    _submission(tmp_path / "alice" / "00.ipynb", [("ellipse", "np.pi"), ("square", "np.pi / 2")])
    _submission(tmp_path / "bob" / "00.ipynb", [("ellipse", "None"), ("square", "np.pi")])
    grades = course.grade_folder(tmp_path, timeout=120)
    assert [r["passed"] for r in grades["alice"]["00.ipynb"]] == [True, True]
    bob = grades["bob"]["00.ipynb"]
    assert [r["passed"] for r in bob] == [False, False]          # a failing cell does not hide the next one
    assert "not answered yet" in bob[0]["message"]
    assert "smaller one does too" in bob[1]["message"]
    table = course.grade_summary(grades)
    assert "alice" in table and "2/2" in table and "0/2" in table

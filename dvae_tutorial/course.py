"""Course tooling: student versions of the lessons (solutions stripped, checks kept).

A solution is a region of a code cell between a line ``### BEGIN SOLUTION`` and a line
``### END SOLUTION``.  In the student version the region becomes a stub that keeps the notebook
running up to the exercise and lets the check explain what is missing:

- inside a function body (an indented region): ``raise NotImplementedError(...)`` — the check
  that calls the function reports "not solved yet" (see ``checks``);
- at the top level: every name the solution assigns is set to ``None`` — the check reports that
  the answer is still missing.

Outputs and execution counts are cleared.
"""
from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_TODO = "YOUR CODE HERE"


def _assigned_names(code: str) -> list[str]:
    """Names bound at the top level of ``code`` (assignments, for loops, with ... as, defs)."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return []
    names: list[str] = []

    def add(target):
        if isinstance(target, ast.Name) and target.id not in names:
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                add(t)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                add(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            add(ast.Name(node.name))
    return names


def strip_solutions(source: str) -> str:
    """The student version of one code cell's source (unchanged if it has no solution region)."""
    lines = source.split("\n")
    out, region, indent = [], None, ""
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise ValueError(f"nested {BEGIN!r} in cell:\n{source}")
            region, indent = [], line[: len(line) - len(line.lstrip())]
            continue
        if stripped == END:
            if region is None:
                raise ValueError(f"{END!r} without {BEGIN!r} in cell:\n{source}")
            if indent:   # inside a block: the enclosing function must still be valid Python
                out.append(f'{indent}raise NotImplementedError("{STUB_TODO}")')
            else:
                names = _assigned_names("\n".join(region))
                out.append(f"# {STUB_TODO}")
                out.extend(f"{name} = None" for name in names)
            region = None
            continue
        if region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"{BEGIN!r} without {END!r} in cell:\n{source}")
    return "\n".join(out)


def student_notebook(path):
    """The student version of the notebook at ``path`` (an nbformat node)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_student_set(src_dir, out_dir) -> list[Path]:
    """Write the student version of every ``*.ipynb`` of ``src_dir`` to ``out_dir``; returns the paths."""
    import nbformat

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    notebooks = sorted(src_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        target = out_dir / path.name
        nbformat.write(student_notebook(path), target)
        written.append(target)
    return written


# --- grading --------------------------------------------------------------------------------------

CHECK_CALL = re.compile(r"checks\.(check_\w+)\(")


def grade_notebook(path, timeout: int = 600, fast: bool = True) -> list[dict]:
    """Run a submitted notebook and report every check it calls: ``[{cell, check, passed, message}]``.

    The notebook runs to the end even when a cell fails (``allow_errors``), so one unsolved exercise
    does not hide the others.  ``fast`` sets ``DVAE_TUTORIAL_FAST=1`` for the kernel, ``fast=False`` removes it.
    """
    import nbformat
    from nbclient import NotebookClient

    from . import config

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute(env=config.kernel_environment(fast))
    results = []
    for index, cell in enumerate(nb.cells):
        names = CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []
        if not names:
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        ok = not errors and printed.count("correct:") >= len(names)
        message = (f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else
                   "; ".join(line for line in printed.splitlines() if line.startswith("correct:")))
        results.append({"cell": index, "check": ", ".join(names), "passed": ok, "message": message})
    return results


def grade_folder(folder, timeout: int = 600, fast: bool = True) -> dict:
    """Grade every submission under ``folder``: ``{student: {notebook: [check results]}}``.

    Layout: one sub-folder per student holding their notebooks (``folder/alice/01_vae.ipynb``), or
    notebooks directly in ``folder`` (the student is then the file's stem).
    """
    folder = Path(folder)
    submissions: dict = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        student = path.parent.name if path.parent != folder else path.stem
        submissions.setdefault(student, {})[path.name] = grade_notebook(path, timeout, fast)
    if not submissions:
        raise FileNotFoundError(f"no submitted notebooks (*.ipynb) under {folder}")
    return submissions


def grade_summary(submissions: dict) -> str:
    """A plain-text table: one line per student and notebook, checks passed / total, first failure."""
    lines = [f"{'student':<16} {'notebook':<28} {'passed':>7}  first problem"]
    for student, notebooks in submissions.items():
        for name, results in notebooks.items():
            passed = sum(r["passed"] for r in results)
            failed = next((r for r in results if not r["passed"]), None)
            problem = "" if failed is None else f"{failed['check']}: {failed['message'][:90]}"
            lines.append(f"{student:<16} {name:<28} {passed:>3}/{len(results):<3}  {problem}")
    return "\n".join(lines)

"""The lessons as graded assignments: points and nbgrader metadata on every exercise, no answer visible
before its exercise in the student version, answers that call the package's reference refused, and the
real exercises' checks accepting the reference solution and explaining typical mistakes."""
import ast
import inspect
import re
from pathlib import Path

import exercise_answers as answers
import nbformat
import numpy as np
import pytest
import torch

from dvae_tutorial import checks, losses, models
from dvae_tutorial.checks import ExerciseError
from dvae_tutorial.checks._base import _code_of, binary_batch, resolve, small_vae

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_CALL = re.compile(r"checks\.(check_\w+)\(")


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _exercises(nb):
    """``[(solution cell index, test cell index, check names)]`` of a lesson, in order."""
    found = []
    for i, cell in enumerate(nb.cells):
        if _nbgrader(cell).get("grade"):
            solution = max(j for j in range(i) if _nbgrader(nb.cells[j]).get("solution"))
            found.append((solution, i, CHECK_CALL.findall(cell.source)))
    return found


def _solution_lines(source: str) -> list[str]:
    inside, lines = False, []
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) >= 20 and not line.strip().startswith("#") and not line.rstrip().endswith(":"):
            lines.append(line.strip())
    return lines


def _solution_length(source: str) -> int:
    """Lines of code (not blank, not comments) between the solution markers."""
    inside, n = False, 0
    for line in source.splitlines():
        if "SOLUTION" in line:
            inside = "BEGIN" in line
        elif inside and line.strip() and not line.strip().startswith("#"):
            n += 1
    return n


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_exercise_carries_nbgrader_metadata_and_points(path):
    nb = nbformat.read(path, as_version=4)
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if "### BEGIN SOLUTION" in cell.source:
            assert meta.get("solution") is True and meta.get("grade") is False and meta.get("locked") is False
            assert "### END SOLUTION" in cell.source and not CHECK_CALL.search(cell.source)
        if cell.cell_type == "code" and CHECK_CALL.search(cell.source):
            names = CHECK_CALL.findall(cell.source)
            assert meta.get("grade") is True and meta.get("locked") is True and meta.get("solution") is False
            assert meta["points"] == sum(checks.EXERCISES[n]["points"] for n in names) > 0
        if meta:
            assert meta["schema_version"] == 3 and {"grade_id", "grade", "solution", "locked"} <= set(meta)
    assert _exercises(nb), f"{path.name} has no exercise"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_answer_cell_follows_the_statement_of_its_exercise(path):
    """A student sees what to write: the markdown cell before each answer cell (``lessonNN-exerciseK-answer``) is
    ``lessonNN-exerciseK-statement`` and says **Exercise K**, and the first exercise comes under an Exercises
    heading after the lesson's Summary."""
    nb = nbformat.read(path, as_version=4)
    answers_ = [i for i, c in enumerate(nb.cells) if re.fullmatch(r"lesson\d+-exercise\d+-answer",
                                                                  _nbgrader(c).get("grade_id", ""))]
    assert answers_, f"{path.name} has no answer cell"
    for i in answers_:
        number = re.search(r"exercise(\d+)", _nbgrader(nb.cells[i])["grade_id"]).group(1)
        statement = nb.cells[i - 1]
        assert statement.cell_type == "markdown", f"{path.name}, exercise {number}: no statement before its answer"
        assert _nbgrader(statement).get("grade_id", "").endswith(f"exercise{number}-statement")
        assert f"Exercise {number}" in statement.source, f"{path.name}: exercise {number}'s statement is missing"
    before_first = "".join(c.source for c in nb.cells[:answers_[0]] if c.cell_type == "markdown")
    assert "## Exercises" in before_first and "## Summary" in before_first, path.name


@pytest.mark.parametrize("path", [p for p in LESSONS if not p.stem.startswith("00")], ids=lambda p: p.stem)
def test_every_lesson_after_00_has_a_real_exercise_besides_warm_ups(path):
    """A solution of 10+ lines worth 4+ points, besides the warm-ups."""
    nb = nbformat.read(path, as_version=4)
    real = [(s, t) for s, t, _ in _exercises(nb)
            if _solution_length(nb.cells[s].source) >= 10
            and _nbgrader(nb.cells[t])["points"] >= 4]
    assert real, f"{path.name}: no exercise with a 10+ line solution worth 4+ points"
    assert len(_exercises(nb)) > len(real), "the short exercises stay as warm-ups"


def _student_version(path):
    from nbgrader.preprocessors import ClearSolutions

    nb = nbformat.read(path, as_version=4)
    student, _ = ClearSolutions().preprocess(nbformat.read(path, as_version=4), {})
    return nb, student


def _getsource_targets(source: str) -> list:
    """The package objects a cell prints the source of (``inspect.getsource(losses.kl_normal)``)."""
    import dvae_tutorial

    targets = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "getsource":
            expression = ast.unparse(node.args[0])
            first = expression.split(".")[0]
            try:
                module = __import__(f"dvae_tutorial.{first}", fromlist=["x"])
                targets.append(eval(expression, {first: module, "dvae_tutorial": dvae_tutorial}))
            except (ImportError, AttributeError, NameError):
                pass
    return targets


def _reference_lines(spec: str) -> list[str]:
    obj = resolve(spec)
    obj = obj.fget if isinstance(obj, property) else obj
    source = inspect.getsource(obj)
    return [line.strip() for line in source.splitlines()[1:]
            if len(line.strip()) >= 30 and not line.strip().startswith(("#", '"'))]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_answer_is_visible_before_its_exercise_in_the_student_version(path):
    """No solution line, no printed source of the package function the exercise re-implements, and none
    of that function's lines, in any cell of the student version before the exercise."""
    nb, student = _student_version(path)
    for solution, _test, names in _exercises(nb):
        refused = [spec for n in names for spec in checks.EXERCISES[n]["refuses"]]
        refused_codes = {_code_of(resolve(spec)) for spec in refused}
        answer = set(_solution_lines(nb.cells[solution].source))
        reference = {line for spec in refused for line in _reference_lines(spec)}
        for i, cell in enumerate(student.cells[:solution]):
            if cell.cell_type != "code":
                continue
            lines = {line.strip() for line in cell.source.splitlines()}
            assert not lines & answer, f"cell {i} shows the answer of {names}: {lines & answer}"
            assert not lines & reference, f"cell {i} re-types the package's answer to {names}: {lines & reference}"
            printed = [t for t in _getsource_targets(cell.source)
                       if getattr(inspect.unwrap(getattr(t, "__func__", t)), "__code__", None) in refused_codes]
            assert not printed, f"cell {i} prints the source of {printed}, the answer to {names}"
        assert "### BEGIN SOLUTION" not in student.cells[solution].source
        assert "raise NotImplementedError()" in student.cells[solution].source


def test_the_student_version_hides_what_the_lessons_used_to_print():
    """The check above catches the old lesson 01: its section 2 printed models.sample_gaussian."""
    nb = nbformat.read(ROOT / "notebooks" / "01_vae.ipynb", as_version=4)
    old = nbformat.v4.new_code_cell("print(inspect.getsource(models.sample_gaussian))")
    targets = _getsource_targets(old.source)
    assert targets and _code_of(targets[0]) == _code_of(models.sample_gaussian)
    assert "    return mu + torch.exp(0.5 * logvar) * eps" .strip() in _reference_lines("dvae_tutorial.models:sample_gaussian")
    assert any("sample_gaussian" in spec for n in ("check_reparameterisation",) for spec in checks.EXERCISES[n]["refuses"])
    assert nb.cells   # the lesson is read


# --- delegating answers are refused ----------------------------------------------------------------

def _calls_then_answers(spec, right):
    """An answer that calls the reference (and swallows whatever it raises), then answers right itself."""
    reference = resolve(spec)
    required = [q for q in inspect.signature(reference).parameters.values()
                if q.default is q.empty and q.kind == q.POSITIONAL_OR_KEYWORD]

    def answer(*args):
        try:
            reference(*(list(args) + [None] * len(required))[:len(required)])
        except Exception:
            pass
        return right(*args)
    return answer


def _delegating_cases():
    ds = pytest.importorskip("dvae_tutorial.data").DSprites.small(image_size=32, progress=False)
    model = small_vae(2)
    images, _ = binary_batch(2, batch=64)
    cases = {name: (fn, args) for name, (fn, args) in answers.delegating_answers(ds).items() if fn is not None}
    cases["check_index_formula"] = (lambda factors, sizes: ds.index_of(factors), (ds,))
    cases["check_training"] = (lambda m, d, steps, seed: [losses.VAELoss()(m(x), x, 0)["loss"].item() for x in [images] * steps],
                               (ds, 3))
    cases["check_rate_distortion"] = (lambda m, x, t: {"rate": losses.kl_normal(*m.encode(x)).mean(0).sum().item(),
                                                       "distortion": 0.0, "active": 0}, (model, images))
    cases["check_capacity_loss"] = (_calls_then_answers("dvae_tutorial.losses:CapacityLoss.__call__",
                                                        lambda r, k, c, g: r + g * (k - c).abs()), ())
    cases["check_density_ratio_tc"] = (lambda logits: models.Discriminator.tc_estimate(
        type("D", (), {"__call__": lambda self, z: z})(), logits).mean(), ())
    cases["check_discriminator_step"] = (lambda m, d, opt, x1, x2, g: losses.FactorVAELoss.discriminator_loss(
        type("O", (), {"discriminator": d})(), m.encode(x1)[0].detach(), m.encode(x2)[0].detach())[0].item(), ())
    cases["check_decomposition"] = (_calls_then_answers("dvae_tutorial.losses:decomposition_terms",
                                                        lambda a, b, c, d: {"mi": (a - b).mean(), "tc": (b - c).mean(),
                                                                            "dw_kl": (c - d).mean()}), ())
    cases["check_beta_vae_features"] = (_calls_then_answers("dvae_tutorial.metrics.beta_vae:beta_vae_features",
                                                            lambda z1, z2: np.abs(z1 - z2).mean(axis=1)), ())
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(200, 3)), rng.integers(0, 3, size=(200, 2))
    cases["check_sap"] = (cases["check_sap"][0], (codes, factors))
    return cases


def test_every_function_exercise_refuses_an_answer_that_calls_its_reference():
    cases = _delegating_cases()
    function_exercises = {n for n, e in checks.EXERCISES.items() if e["refuses"]}
    assert function_exercises <= set(cases), f"no delegating answer tried for {function_exercises - set(cases)}"
    for name in sorted(function_exercises):
        answer, args = cases[name]
        with pytest.raises(ExerciseError, match="write it yourself: your .* calls dvae_tutorial"):
            getattr(checks, name)(answer, *args)


def test_refusal_sees_aliases_and_restores_the_profile_hook():
    import sys

    from dvae_tutorial.losses import kl_normal as hidden_alias

    with pytest.raises(ExerciseError, match="calls dvae_tutorial.losses.kl_normal"):
        checks.check_kl_normal(lambda mu, lv: hidden_alias(mu, lv))
    assert sys.getprofile() is None
    assert losses.kl_normal(torch.zeros(1, 1), torch.zeros(1, 1)).item() == 0   # the package still works


# --- the real exercises: the reference solutions pass, typical mistakes are explained ---------------

def test_negative_elbo_accepts_the_solution_and_explains_mistakes():
    import torch.nn.functional as F

    assert checks.check_negative_elbo(answers.my_negative_elbo)

    def mean_over_pixels(model, x, eps):
        d = answers.my_negative_elbo(model, x, eps)
        return {**d, "recon": d["recon"] / x[0].numel(), "loss": d["recon"] / x[0].numel() + d["kl"]}

    def decodes_mu(model, x, eps):
        mu, logvar = model.encode(x)
        recon = F.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="sum") / len(x)
        kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(1).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def detached(model, x, eps):
        d = answers.my_negative_elbo(model, x, eps)
        return {k: v.detach() for k, v in d.items()}

    for fn, hint in ((mean_over_pixels, "SUM over its pixels"), (decodes_mu, "decodes mu, not a sample"),
                     (detached, "no gradient")):
        with pytest.raises(ExerciseError, match=hint):
            checks.check_negative_elbo(fn)


@pytest.mark.slow
def test_training_check_accepts_a_loop_and_refuses_one_without_zero_grad_or_step():
    from dvae_tutorial import data

    ds = data.DSprites.small(image_size=32, progress=False)
    assert checks.check_training(answers.my_train, ds, 40)

    def no_step(model, dataset, steps, seed):
        return [answers.my_negative_elbo(model, *binary_batch(0))["loss"].item() for _ in range(steps)]

    with pytest.raises(ExerciseError, match="weights did not change"):
        checks.check_training(no_step, ds, 5)


def test_rate_distortion_capacity_discriminator_log_qz_and_sap_accept_the_solutions():
    images, _ = binary_batch(4, batch=300)
    assert checks.check_rate_distortion(answers.rate_distortion, small_vae(4), images)
    assert checks.check_capacity_objective(answers.my_capacity_objective)
    assert checks.check_discriminator_step(answers.my_discriminator_step)
    assert checks.check_log_qz(answers.my_log_qz)
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 3, size=(300, 2))
    codes = np.column_stack([factors[:, 0] + rng.normal(0, 0.1, 300), rng.normal(size=300)])
    assert checks.check_sap(answers.my_sap, codes, factors)


def test_real_exercises_explain_typical_mistakes():
    def no_abs(model, x, eps, step, gamma, c_max, c_steps):
        d = answers.my_capacity_objective(model, x, eps, step, gamma, c_max, c_steps)
        return {**d, "loss": d["recon"] + gamma * (d["kl"] - d["capacity"])}

    with pytest.raises(ExerciseError, match="without \\|.\\|"):
        checks.check_capacity_objective(no_abs)

    def not_detached(model, discriminator, d_optimizer, x1, x2, generator):
        mu1, logvar1 = model.encode(x1)
        z1 = models.sample_gaussian(mu1, logvar1, generator)
        mu2, logvar2 = model.encode(x2)
        z_perm = models.permute_dims(models.sample_gaussian(mu2, logvar2, generator), generator)
        loss = 0.5 * (torch.nn.functional.cross_entropy(discriminator(z1), torch.zeros(len(z1), dtype=torch.long)) +
                      torch.nn.functional.cross_entropy(discriminator(z_perm), torch.ones(len(z1), dtype=torch.long)))
        d_optimizer.zero_grad()
        loss.backward()
        d_optimizer.step()
        return loss.item()

    with pytest.raises(ExerciseError, match="changed the VAE's gradients"):
        checks.check_discriminator_step(not_detached)

    def mws(z, mu, logvar, n):
        diff = z[:, None] - mu[None]
        pairs = -0.5 * (diff ** 2 / logvar.exp()[None] + logvar[None] + np.log(2 * np.pi))
        log_w = -np.log(n * len(z))
        return (torch.logsumexp(log_w + pairs.sum(2), 1), torch.logsumexp(log_w + pairs, 1).sum(1))

    with pytest.raises(ExerciseError, match="WEIGHTED sampling"):
        checks.check_log_qz(mws)

"""What every exercise check shares: the error a wrong answer raises, the line a right one prints, the
points an exercise is worth, and the guard that refuses an answer delegating to the package's own
function (the reference the check compares against)."""
from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types


class ExerciseError(AssertionError):
    """The answer to an exercise is not right yet; the message says how."""


class Passed:
    """What a passed check returns: true, and shown as nothing in a notebook (the check printed its line)."""

    def __init__(self, message: str):
        self.message = message

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Passed({self.message!r})"

    def _ipython_display_(self) -> None:   # the "correct: ..." line is already printed; no extra `True`
        pass


def passed(message: str) -> Passed:
    print(f"correct: {message}")
    return Passed(message)


# --- exercises: points and references ----------------------------------------------------------

def exercise(points: int, refuses: tuple[str, ...] = ()):
    """Mark a check as an exercise worth ``points``; ``refuses`` names the package callables (as
    ``"module:qualname"``, e.g. ``"dvae_tutorial.losses:kl_normal"``) that a student's function may
    not call while the check runs it: the references the check compares against."""
    def mark(check):
        check.points = int(points)
        check.refuses = tuple(refuses)
        return check
    return mark


def resolve(spec: str):
    """The object named by ``"package.module:Qual.name"``."""
    module_name, _, qualname = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _code_of(obj) -> types.CodeType:
    obj = inspect.unwrap(obj)
    if isinstance(obj, property):
        obj = obj.fget
    return getattr(obj, "__func__", obj).__code__


def _display_name(spec: str) -> str:
    module_name, _, qualname = spec.partition(":")
    return f"{module_name}.{qualname}"


def is_student_function(value) -> bool:
    """A function or method written in the notebook (not a module, tensor, data set or trained run)."""
    return isinstance(value, (types.FunctionType, types.MethodType, functools.partial))


def refusing_delegation(fn, refuses: tuple[str, ...]):
    """``fn`` wrapped so that a call of any callable named in ``refuses`` from inside it (however the
    student reached it: an import, an alias, a method) stops with "write it yourself".

    Implemented with a profile hook active only while ``fn`` runs: it sees every Python function that
    starts and compares its code object with the references' code objects.
    """
    if not refuses:
        return fn
    codes = {_code_of(resolve(spec)): _display_name(spec) for spec in refuses}
    name = getattr(fn, "__name__", "your function")

    def message(reference: str) -> str:
        return (f"write it yourself: your {name} calls {reference}, the package's answer this check compares "
                "against. Use the formula (and torch/numpy), not the package function")

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        hits: list[str] = []

        def profiler(frame, event, arg):
            if event == "call" and frame.f_code in codes:
                hits.append(codes[frame.f_code])
                raise ExerciseError(message(codes[frame.f_code]))

        previous = sys.getprofile()
        sys.setprofile(profiler)
        try:
            result = fn(*args, **kwargs)
        except ExerciseError:
            if hits:
                raise ExerciseError(message(hits[0])) from None
            raise
        finally:
            sys.setprofile(previous)
        if hits:   # the refusal was caught inside the student's function: refuse anyway
            raise ExerciseError(message(hits[0]))
        return result

    return guarded


def small_vae(seed: int = 0, image_size: int = 32):
    """The course's small net, seeded: the model a check runs a student's function on.

    The decoder's first layer is scaled up so that, like a trained decoder, it decodes different codes to
    different images (an untrained one decodes every code to nearly the same grey): a check can then tell
    an answer that decodes mu from one that decodes the sample z.
    """
    import torch

    from ..models import VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VAE(latent_dim=10, image_size=image_size, architecture="small")
    first = next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight.mul_(20.0)
    return model


def binary_batch(seed: int, batch: int = 16, image_size: int = 32):
    """A batch of binary images ``(batch, 1, image_size, image_size)`` and standard normal noise ``(batch, 10)``."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, 1, image_size, image_size, generator=g) > 0.8).float()
    eps = torch.randn(batch, 10, generator=g)
    return x, eps


def scalar(name: str, value) -> float:
    """``value`` as a float, or an ExerciseError saying that ``name`` must be one number."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ExerciseError(f"{name} must be one number (a scalar tensor), got shape {tuple(value.shape)}: "
                                "sum over pixels / latents, then average over the batch")
        return float(value.detach())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{name} must be a number, got {type(value).__name__}") from None


def terms_dict(name: str, got, keys: tuple[str, ...]) -> dict:
    """``got`` must be a dict holding ``keys``; returns it."""
    if not isinstance(got, dict) or set(keys) - set(got):
        raise ExerciseError(f"{name} must return a dict with the keys {list(keys)}; got "
                            f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
    return got

"""Checks for the exercises: each compares a student's answer with the reference and explains what
is wrong.  A check prints one line on success and raises ``ExerciseError`` (an AssertionError, so a
notebook stops there) with a hint on failure.

One module per lesson (``lesson00``, ``lesson01``, ...); every ``check_*`` function is re-exported
here, wrapped so that an exercise not attempted yet (an answer still ``None``, or a function whose
body still raises ``NotImplementedError``, as in the student version made by ``course``) stops with
a message saying so instead of a traceback.

A check marked with ``exercise(points, refuses=...)`` is an exercise worth ``points``: while it runs a
function the student wrote, the package callables in ``refuses`` (the references it compares
against) cannot be called from it ("write it yourself").  ``EXERCISES`` maps every such check's name
to its points and refused references; the lessons' nbgrader metadata carries the same points.
"""
import functools
import importlib
import inspect
import pkgutil

from ._base import ExerciseError, is_student_function, passed, refusing_delegation

__all__ = ["ExerciseError", "passed", "EXERCISES"]
EXERCISES: dict = {}


def _unanswered_is_explained(check):
    signature = inspect.signature(check)
    refuses = getattr(check, "refuses", ())

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        missing = [name for name, value in bound.arguments.items() if value is None]
        if missing:
            raise ExerciseError(f"not answered yet: {', '.join(missing)} is still None. Write your answer "
                                f"where the cell says YOUR CODE HERE, then run the cell again")
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if is_student_function(value):
                bound.arguments[name] = refusing_delegation(value, refuses)
        try:
            return check(*bound.args, **bound.kwargs)
        except NotImplementedError:
            raise ExerciseError("not solved yet: your function still raises NotImplementedError. Replace that "
                                "line with your code, then run the cell again") from None

    return wrapper


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("lesson"):
        _module = importlib.import_module(f".{_info.name}", __name__)
        for _name in dir(_module):
            if _name.startswith("check_") and callable(getattr(_module, _name)):
                _check = getattr(_module, _name)
                globals()[_name] = _unanswered_is_explained(_check)
                __all__.append(_name)
                if hasattr(_check, "points"):
                    EXERCISES[_name] = {"points": _check.points, "refuses": _check.refuses, "lesson": _info.name}

"""Checks for the exercises: each compares a student's answer with the reference and explains what
is wrong.  A check prints one line on success and raises ``ExerciseError`` (an AssertionError, so a
notebook stops there) with a hint on failure.

One module per lesson (``lesson00``, ``lesson01``, ...); every ``check_*`` function is re-exported
here, so a notebook calls ``checks.check_index_formula(...)``.
"""
import importlib
import pkgutil

from ._base import ExerciseError, passed

__all__ = ["ExerciseError", "passed"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("lesson"):
        _module = importlib.import_module(f".{_info.name}", __name__)
        for _name in dir(_module):
            if _name.startswith("check_"):
                globals()[_name] = getattr(_module, _name)
                __all__.append(_name)

"""dvae-tutorial: a Jupyter course on disentangled representation learning with PyTorch.

Modules (one concern each): ``data`` (ground-truth data sets), ``models``, ``losses``, ``train``,
``metrics``, ``plots``, ``widgets``, ``checks`` (exercise checks), ``runs`` (cached live runs),
``evaluation`` (scores of a model), ``recipes`` (named training settings), ``pretrained`` (shipped
models), ``files`` (atomic writes, weight formats), ``config``.  Layout and conventions: docs/design.md.
Submodules are imported on first use, so ``import dvae_tutorial`` stays fast.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("config", "data", "models", "losses", "train", "metrics", "plots", "widgets", "checks", "runs",
               "evaluation", "recipes", "pretrained", "files")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dvae_tutorial' has no attribute {name!r}")

"""Checkpoints this project trained with its own recipes and ships inside the package (nothing is downloaded).

    from dvae_tutorial import pretrained
    pretrained.available()            # ['vae', 'betavae', 'capacity', 'factorvae', 'btcvae']
    model = pretrained.load("btcvae") # a models.VAE in eval mode on the CPU, float32
    pretrained.info("btcvae")         # recipe, training (steps, wall time, machine), history summary, scores

The VAE and the beta-TCVAE were trained with several seeds (``recipes.SEEDS``): every seed's two files are in
``seeds/`` (``pretrained.seeds("btcvae")``, ``pretrained.load("btcvae", seed=1)``), and ``NAME.json`` of the
shipped one lists them all under ``"seeds"`` with the rule that picked it (``recipes.SHIPPING_RULE``).

Each model is two files in this folder: ``NAME.pt`` (the weights, stored as float16 to keep the
repository small -- scores are computed from exactly these weights) and ``NAME.json`` (its recipe,
a summary of its training history, its scores and the sha256 of ``NAME.pt``, checked on every load).
``python -m dvae_tutorial pretrained build`` retrains all of them (see ``dvae_tutorial.recipes``).
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import files
from ..files import WEIGHTS_FORMAT, sha256  # noqa: F401 -- part of this module's API

FOLDER = Path(__file__).resolve().parent
SEEDS_DIR = "seeds"        # sub-folder holding every seed of a model trained with several: NAME-seedS.{pt,json}


class PretrainedError(RuntimeError):
    """A shipped checkpoint is missing or damaged."""


def _rebuild_hint(name: str) -> str:
    return (f"restore it from git (`git checkout -- dvae_tutorial/pretrained/{name}.*`) or retrain it with "
            f"`python -m dvae_tutorial pretrained build {name}`")


def _folder(folder) -> Path:
    return FOLDER if folder is None else Path(folder)


def seed_name(name: str, seed: int) -> str:
    """The file name (without suffix) of seed ``seed`` of model ``name`` in ``seeds/``: ``NAME-seedS``."""
    return f"{name}-seed{int(seed)}"


def location(name: str, folder=None, seed: int | None = None) -> tuple[str, Path]:
    """(file name without suffix, folder) where the shipped model ``name`` (``seed=None``) or one of its seeds is
    written: ``(NAME, folder)`` or ``(NAME-seedS, folder/seeds)``; nothing is checked."""
    if seed is None:
        return name, _folder(folder)
    return seed_name(name, seed), _folder(folder) / SEEDS_DIR


def _where(name: str, folder, seed) -> tuple[str, Path]:
    """``location`` of a model or seed that must exist: a clear error for a seed that is not there."""
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int or None (the shipped one), not {seed!r}")
        found = seeds(name, folder)
        if seed not in found:
            raise KeyError(f"{name!r} has no shipped seed {seed}; its seeds: {found or 'none'} "
                           f"(pretrained.seeds({name!r}))")
    return location(name, folder, seed)


def seeds(name: str, folder=None) -> list[int]:
    """The training seeds of ``name`` whose weights ship in ``seeds/`` (empty for a model trained with one seed)."""
    prefix = f"{name}-seed"
    here = _folder(folder) / SEEDS_DIR
    found = [p.stem[len(prefix):] for p in here.glob(f"{prefix}*.json") if (here / f"{p.stem}.pt").exists()]
    return sorted(int(s) for s in found if s.isdigit())


def available(folder=None) -> list[str]:
    """Names of the shipped models (those with both ``NAME.pt`` and ``NAME.json``), in recipe order."""
    from ..recipes import RECIPES

    folder = _folder(folder)
    names = [p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.pt").exists()]
    order = {n: i for i, n in enumerate(RECIPES)}
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


def _check_name(name: str, folder=None) -> None:
    if not isinstance(name, str) or not (_folder(folder) / f"{name}.json").exists():
        names = available(folder)
        raise KeyError(f"no shipped model called {name!r}; available: {', '.join(names) or 'none'} "
                       f"(pretrained.available())")


def info(name: str, folder=None, seed: int | None = None) -> dict:
    """The metadata of ``name``: recipe, training, history summary, scores, sha256 (see ``NAME.json``).

    ``seed``: that training seed's metadata (``seeds/NAME-seedS.json``) instead of the shipped model's.
    """
    if seed is None:
        _check_name(name, folder)
    file, where = _where(name, folder, seed)
    path = where / f"{file}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PretrainedError(f"{path} cannot be read ({err}); {_rebuild_hint(name)}") from None


def verify(name: str, folder=None, seed: int | None = None) -> None:
    """Raise ``PretrainedError`` unless ``NAME.pt`` exists and matches the sha256 recorded in ``NAME.json``."""
    meta = info(name, folder, seed)
    file, where = _where(name, folder, seed)
    path = where / f"{file}.pt"
    if not path.exists():
        raise PretrainedError(f"the weights of {name!r} are missing ({path}); {_rebuild_hint(name)}")
    found = sha256(path)
    if found != meta.get("sha256"):
        raise PretrainedError(f"{path} is damaged: its sha256 is {found[:16]}..., the shipped one "
                              f"{str(meta.get('sha256'))[:16]}...; {_rebuild_hint(name)}")


def load(name: str, device="cpu", check: bool = True, folder=None, seed: int | None = None):
    """The shipped model ``name`` as a ``models.VAE`` (float32, eval mode) on ``device``.

    ``check=True`` verifies the file's sha256 first (a damaged or edited file is refused);
    ``folder`` reads another folder of exported models (default: the shipped ones);
    ``seed``: another training seed of the same recipe (``seeds(name)`` lists them).
    """
    if check:
        verify(name, folder, seed)
    elif seed is None:
        _check_name(name, folder)
    file, where = _where(name, folder, seed)
    return read_weights(where / f"{file}.pt", name).to(device).eval()


def read_weights(path, name: str | None = None):
    """A ``models.VAE`` (float32, eval mode) from a file written by ``save_weights`` (no sha256 check)."""
    path = Path(path)
    try:
        return files.load_weights(path)
    except files.WeightFileError as err:
        raise PretrainedError(f"{err}; {_rebuild_hint(name or path.stem)}") from None


def save_weights(model, name: str, folder=None, file: str | None = None) -> Path:
    """Write ``model``'s weights as float16 to ``folder/FILE.pt`` (``file`` defaults to ``name``; atomically);
    returns the path.  The file records ``name``, so a seed's file and the shipped copy of it are identical."""
    return files.save_weights(model, _folder(folder) / f"{file or name}.pt", name)

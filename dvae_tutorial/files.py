"""Every file this package writes or reads back, in one place: atomic writes, the three weight formats,
the machine record.

Atomic writes.  ``atomic_write(path, write)`` calls ``write(tmp)`` on a temporary file next to
``path`` and renames it into place (``os.replace``), so a reader sees either no file or a complete
one, never a half-written one -- the same for torch files, JSON and HDF5 (``atomic_write_h5``).

Three weight formats, each a dict with a ``"format"`` tag, each loaded with ``torch.load(...,
weights_only=True)`` (tensors and plain Python containers only; a file can never run code):

- ``dvae_tutorial.checkpoint/1``: ``checkpoint.pt`` of a run folder, written by ``train.fit``: model,
  optimiser, objective, rng states, history, config -- enough to resume (``save_checkpoint``);
- ``dvae_tutorial.liverun/1``: a lesson's cached run, written by ``runs.live_run``: weights, model
  config, the history as tensors, settings, wall time (``save_live_run``);
- ``dvae_tutorial.pretrained/1``: a shipped model, ``dvae_tutorial/pretrained/NAME.pt``, written by
  ``pretrained export``: float16 weights and the model config (``save_weights``).

The data sets' own files (dSprites HDF5 cache, the official .npz / .hdf5, 3D Shapes) are read in
``data.files`` / ``data.shapes3d``; their writer uses ``atomic_write_h5`` from here.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = "dvae_tutorial.checkpoint/1"
LIVE_RUN_FORMAT = "dvae_tutorial.liverun/1"
WEIGHTS_FORMAT = "dvae_tutorial.pretrained/1"


class WeightFileError(RuntimeError):
    """A weight file is missing, unreadable by torch, or not of the expected format."""


# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------
def atomic_write(path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_h5(path, write) -> None:
    """``write(h5file)`` on a temporary HDF5 file, then renamed into place (see ``atomic_write``)."""
    import h5py

    def write_h5(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            write(f)

    atomic_write(path, write_h5)


def atomic_write_json(path, value, indent: int = 2) -> None:
    """``value`` as JSON text (with a final newline), written atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=indent, default=str) + "\n"))


def sha256(path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_tagged(path: Path, expected_format: str, what: str, device="cpu") -> dict:
    """``torch.load(path, weights_only=True)`` checked to be a dict tagged ``expected_format``."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:   # noqa: BLE001 -- any unreadable file gets the same message
        raise WeightFileError(f"{path} cannot be read by torch as a {what} ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(saved, dict) or saved.get("format") != expected_format:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise WeightFileError(f"{path} is not a dvae_tutorial {what} (format {found!r}, "
                              f"expected {expected_format!r})")
    return saved


# --------------------------------------------------------------------------------------------------
# train checkpoints: a run folder with checkpoint.pt (to resume) and config.json (for people)
# --------------------------------------------------------------------------------------------------
def save_checkpoint(directory, checkpoint: dict) -> Path:
    """Write ``checkpoint.pt`` (torch) and ``config.json`` atomically into ``directory``; returns the .pt path."""
    directory = Path(directory)
    path = directory / CHECKPOINT_NAME
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
    summary = dict(checkpoint["config"], steps_done=checkpoint["step"], wall_time=checkpoint["wall_time"])
    atomic_write_json(directory / CONFIG_NAME, summary)
    return path


def load_checkpoint(path, device="cpu") -> dict:
    """Read a checkpoint (a run folder or its ``checkpoint.pt``); tensors are put on ``device``.

    Raises ``FileNotFoundError`` when there is none, ``WeightFileError`` when the file is damaged
    or of another format.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with `python -m dvae_tutorial train ... --out DIR`")
    return _load_tagged(path, CHECKPOINT_FORMAT, "checkpoint", device)


def model_from_checkpoint(checkpoint: dict, device="cpu", build=None):
    """The trained model (eval mode, on ``device``) of a checkpoint read by ``load_checkpoint``.

    ``build(**model_config)`` makes the untrained model: ``models.VAE`` by default, an objective's
    ``build_model`` for the methods with their own model (VQ-VAE, InfoGAN).
    """
    from .models import VAE

    model = (build or VAE)(**checkpoint["config"]["model"]).to(device)
    model.load_state_dict(checkpoint["model"])
    return model.eval()


# --------------------------------------------------------------------------------------------------
# live runs (the lessons' cache)
# --------------------------------------------------------------------------------------------------
def save_live_run(path, model, history: dict, settings: dict, wall_time: float) -> None:
    """A trained live run: weights, model config, history (each term a tensor), settings, wall time."""
    saved = {"format": LIVE_RUN_FORMAT, "model": model.state_dict(), "model_config": dict(model.config),
             "history": {k: torch.as_tensor(np.asarray(v)) for k, v in history.items()},
             "settings": settings, "wall_time": float(wall_time)}
    atomic_write(path, lambda tmp: torch.save(saved, tmp))


def load_live_run(path, build=None) -> tuple:
    """``(model in eval mode, history {term: np.ndarray}, settings, wall_time)`` from ``save_live_run``'s file.

    ``build(**model_config)`` makes the untrained model (``models.VAE`` by default; see ``model_from_checkpoint``).
    """
    from .models import VAE

    saved = _load_tagged(Path(path), LIVE_RUN_FORMAT, "live run")
    model = (build or VAE)(**saved["model_config"])
    model.load_state_dict(saved["model"])
    history = {k: v.numpy() for k, v in saved["history"].items()}
    return model.eval(), history, saved["settings"], saved["wall_time"]


# --------------------------------------------------------------------------------------------------
# shipped weights (dvae_tutorial/pretrained/NAME.pt): float16, model config, nothing else
# --------------------------------------------------------------------------------------------------
def save_weights(model, path, name: str) -> Path:
    """Write ``model``'s weights as float16 (integer buffers as they are) to ``path`` atomically."""
    path = Path(path)
    state = {k: v.detach().cpu().to(torch.float16) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    saved = {"format": WEIGHTS_FORMAT, "name": name, "model_config": dict(model.config), "state_dict": state}
    atomic_write(path, lambda tmp: torch.save(saved, tmp))
    return path


def load_weights(path):
    """A ``models.VAE`` (float32, eval mode) from a file written by ``save_weights`` (no sha256 check)."""
    from .models import VAE

    saved = _load_tagged(Path(path), WEIGHTS_FORMAT, "pretrained weights file")
    model = VAE(**saved["model_config"])
    model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    return model.eval()


# --------------------------------------------------------------------------------------------------
# the machine record (in every run's config and every shipped model's metadata)
# --------------------------------------------------------------------------------------------------
def machine() -> dict:
    """Where a run trains: CPU model, cores, torch threads, platform, Python and torch versions, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "platform": platform.platform(), "python": platform.python_version(), "torch": str(torch.__version__)}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out

"""Flush subnormal floats to zero on every CPU thread torch computes with.

Subnormal floats (|x| < 1.2e-38 in float32) are 10-100x slower than normal ones on x86 CPUs.  A
trained VAE makes many: its decoder's logits for the dSprites background go far below -87, where
sigmoid(logits), the gradient of the Bernoulli likelihood, is subnormal, and the decoder's backward
pass multiplies them through every layer.

``torch.set_flush_denormal(True)`` sets the flush-to-zero flags (MXCSR FTZ and DAZ) of the
*calling* thread only; torch's other intra-op threads (OpenMP) keep computing with subnormals, so
with 2 threads half of every convolution still runs slow.  ``flush_denormals()`` also runs the
call inside one OpenMP parallel region, so that every thread of the pool sets its own flags.
Where the OpenMP runtime cannot be found (not Linux, another threading library) only the calling
thread is set, as ``torch.set_flush_denormal`` does.
"""
from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

import torch

__all__ = ["flush_denormals", "set_flush_denormal_all_threads"]

_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _openmp_runtime():
    """The OpenMP library torch has loaded (libgomp, libomp or libiomp5), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if line.rstrip().endswith((".so.1", ".so.5", ".so"))}
    except OSError:
        return None
    for path in sorted(paths):
        name = path.rsplit("/", 1)[-1]
        if name.startswith(("libgomp", "libomp", "libiomp5")):
            try:
                library = ctypes.CDLL(path)
                library.GOMP_parallel.argtypes = [_CALLBACK, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                return library
            except (OSError, AttributeError):
                continue
    return None


def set_flush_denormal_all_threads(enabled: bool) -> bool:
    """``torch.set_flush_denormal(enabled)`` on this thread and on every OpenMP thread of torch's pool.

    Returns False where the CPU cannot flush subnormals (then nothing changed), as torch does.
    """
    if not torch.set_flush_denormal(enabled):
        return False
    runtime = _openmp_runtime()
    if runtime is not None and torch.get_num_threads() > 1:
        callback = _CALLBACK(lambda _: torch.set_flush_denormal(enabled))
        runtime.GOMP_parallel(callback, None, 0, 0)   # 0 threads: the pool's size (torch.get_num_threads())
    return True


@contextmanager
def flush_denormals(enabled: bool = True):
    """Within the block, subnormal floats are read and written as 0 on every CPU thread (where supported).

    Turned off again on leaving (torch's default).  Yields whether flushing is on.
    """
    active = enabled and set_flush_denormal_all_threads(True)
    try:
        yield active
    finally:
        if active:
            set_flush_denormal_all_threads(False)

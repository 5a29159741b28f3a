"""Data benchmark: rendering time, cache write/load, memory, batch unpacking, match to real frames.

Run on an idle machine:  .venv/bin/python benchmarks/bench_data.py
Targets (brief): the full dSprites rendered in <= 20 s and held in <= 400 MB.
"""
import os
import tempfile
import time

import numpy as np
import torch

os.environ.setdefault("DVAE_TUTORIAL_CACHE", tempfile.mkdtemp(prefix="dvae_bench_"))

from dvae_tutorial import data  # noqa: E402
from dvae_tutorial.data import reference  # noqa: E402


def timed(fn, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def resident_cost(load_cached: bool):
    """Memory of a fresh process that builds DSprites(): (resident MiB, peak MiB) above its imports."""
    import subprocess
    import sys

    code = (
        "import threading, time\n"
        "from dvae_tutorial import data\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "base, peak, done = rss(), [0.0], []\n"
        "def watch():\n"
        "    while not done:\n"
        "        peak[0] = max(peak[0], rss()); time.sleep(0.005)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        f"ds = data.DSprites(progress=False, cache={load_cached})\n"
        "done.append(1); print(rss() - base, max(peak[0], rss()) - base)\n"
    )
    resident, peak = map(float, subprocess.check_output([sys.executable, "-c", code], text=True).split())
    return f"{resident:.0f} MiB held, peak {peak:.0f} MiB above imports"


def main():
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cache {os.environ['DVAE_TUTORIAL_CACHE']}")
    rows = []
    t, ds = timed(lambda: data.DSprites(cache=False, progress=False), repeat=3)
    rows.append(("render full grid 64x64 (737,280 images)", f"{t:.2f} s"))
    rows.append(("held in memory (bit-packed)", f"{ds.nbytes / 2**20:.0f} MiB ({ds.nbytes / 1e6:.0f} MB)"))
    t32, _ = timed(lambda: data.DSprites(image_size=32, cache=False, progress=False), repeat=3)
    rows.append(("render full grid 32x32", f"{t32:.2f} s"))
    ts, _ = timed(lambda: data.DSprites.small(cache=False, progress=False), repeat=3)
    rows.append(("render small sub-grid (46,080 images)", f"{ts:.2f} s"))
    tw, cached = timed(lambda: data.DSprites(progress=False))      # renders and writes the cache
    path = cached.cache_path()
    rows.append(("render + write cache (HDF5, official layout)", f"{tw:.2f} s, {path.stat().st_size / 2**20:.0f} MiB"))
    tl, loaded = timed(lambda: data.DSprites(progress=False), repeat=3)
    assert torch.equal(loaded.packed, ds.packed)
    rows.append(("load from cache", f"{tl:.2f} s"))
    tf, _ = timed(lambda: data.DSprites.from_file(path, progress=False))
    rows.append(("DSprites.from_file(cache)", f"{tf:.2f} s"))
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.integers(0, len(ds), 64)) for _ in range(2000)]
    tb, _ = timed(lambda: [ds.images(b) for b in batches])
    rows.append(("unpack batches of 64 (random indices)", f"{2000 * 64 / tb:,.0f} images/s ({tb / 2000 * 1e6:.0f} us/batch)"))
    match = reference.reference_iou(ds)
    for shape in ("square", "ellipse", "heart"):
        rows.append((f"IoU vs real frames, {shape}", f"mean {match[shape]:.4f}, min {match['min_' + shape]:.4f}"))
    rows.append(("memory, fresh process, render", resident_cost(load_cached=False)))
    rows.append(("memory, fresh process, load cache", resident_cost(load_cached=True)))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""Training throughput (images/s) of the Burgess et al. 2018 net, per method, through ``train.fit``.

    flock /tmp/dvae-heavy.lock python benchmarks/bench_training.py            # CPU (and CUDA if present)
    python benchmarks/bench_training.py --methods btcvae --steps 100 --repeats 5

Batches of 64 are drawn from an in-memory float tensor of 64x64 dSprites images
(``train.TensorImages`` over a random subset of ``data.DSprites.small()``), so the numbers measure
the model, the objective and the loop, not image decoding.  After a warm-up call, one
``train.fit`` call of ``--steps`` steps is timed step by step (an evaluation hook called after
every step reads the clock).  The table gives images/s from the median step time, from the
fastest fifth of the steps (what the loop does when nothing else competes for the CPU: this
machine may be shared), and from the call's total wall time.  FactorVAE also encodes a second
batch per step for its discriminator (Kim & Mnih 2018, Algorithm 2); its images/s counts the 64
images of the VAE batch.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from dvae_tutorial import losses, models, train

METHODS = tuple(losses.OBJECTIVES)


def in_memory_dsprites(n_images: int, image_size: int, seed: int) -> train.TensorImages:
    try:
        from dvae_tutorial import data
        ds = data.DSprites.small(image_size=image_size)
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=n_images, replace=False))
        images, source = ds.images(idx), f"dSprites.small() subset of {n_images}"
    except ImportError:   # the data module is not there: binary noise of the same shape and sparsity
        g = torch.Generator().manual_seed(seed)
        images = (torch.rand(n_images, 1, image_size, image_size, generator=g) < 0.1).float()
        source = f"random binary images ({n_images})"
    return train.TensorImages(images.contiguous()), source


def measure(method: str, dataset, device: str, steps: int, warmup: int, batch_size: int,
            channels_last: bool | None) -> tuple[np.ndarray, float]:
    """Seconds of each of ``steps`` training steps, and the total wall time of the ``fit`` call."""
    hparams = {"dataset_size": len(dataset)} if method == "btcvae" else {}
    objective = losses.make_objective(method, **hparams)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = models.VAE(image_size=dataset.observation_shape[-1])
    common = dict(batch_size=batch_size, device=device, progress=False, channels_last=channels_last)
    train.fit(model, objective, dataset, steps=warmup, seed=0, **common)
    clock = []

    def tick(state):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        clock.append(time.perf_counter())

    tick(None)
    result = train.fit(model, objective, dataset, steps=steps, seed=1, eval_every=1, hooks=[tick], **common)
    return np.diff(clock)[:steps], result.wall_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all)")
    parser.add_argument("--devices", default=None, help="comma-separated, e.g. cpu,cuda (default: cpu, and cuda if available)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps [100; 10 with --fast]")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first [10; 3 with --fast]")
    parser.add_argument("--fast", action="store_true", help="a quick check of the script, not a measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64, choices=(32, 64))
    parser.add_argument("--images", type=int, default=8192, help="images held in memory")
    parser.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto",
                        help="auto = what train.fit does (channels_last on CPU)")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 10 if args.fast else 100
    if args.warmup is None:
        args.warmup = 3 if args.fast else 10

    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    channels_last = {"auto": None, "channels_last": True, "contiguous": False}[args.memory_format]
    dataset, source = in_memory_dsprites(args.images, args.image_size, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}")
    print(f"data: {source}, {args.image_size}x{args.image_size}; batch {args.batch_size}; Burgess et al. 2018 net; "
          f"{args.steps} timed steps after {args.warmup} warm-up steps; memory format {args.memory_format}")
    print(f"{'method':<10} {'device':<7} {'img/s median':>12} {'img/s best 20%':>14} {'img/s overall':>13} "
          f"{'ms/step median':>14}")
    for device in devices:
        name = torch.cuda.get_device_name(0) if device.startswith("cuda") else ""
        for method in args.methods.split(","):
            step_times, wall = measure(method, dataset, device, args.steps, args.warmup, args.batch_size,
                                       channels_last)
            median, fast = np.median(step_times), np.percentile(step_times, 20)
            print(f"{method:<10} {device:<7} {args.batch_size / median:>12.0f} {args.batch_size / fast:>14.0f} "
                  f"{args.steps * args.batch_size / wall:>13.0f} {1000 * median:>14.1f}  {name}", flush=True)


if __name__ == "__main__":
    main()

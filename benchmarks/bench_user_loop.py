"""Images/s of the training loop as a user runs it, side by side with YannDubs/disentangling-vae's loop.

    flock /tmp/dvae-heavy.lock python benchmarks/bench_user_loop.py --reference /path/to/disentangling-vae
    python benchmarks/bench_user_loop.py --quick --dataset dsprites-small        # a smoke run (seconds)

Rows, all beta-TCVAE (beta = 6, minibatch stratified sampling):

- ``cli``: ``python -m dvae_tutorial train --method btcvae --beta 6 --batch-size 64`` in a fresh
  process, on the full 64x64 dSprites (its defaults: Burgess et al. 2018 net, 10% held out,
  checkpoints every 1000 steps, progress bar on, ``--precision auto``: bfloat16 convolutions on a
  CPU with Intel AMX); where auto means bf16, ``cli --precision fp32`` is timed too;
- ``cli, trained net``: the same command with ``--resume`` from a run folder whose weights were
  replaced by the shipped ``btcvae`` model (trained 12,000 steps): a trained decoder makes
  subnormal floats that a fresh one does not;
- ``live_run``: ``runs.live_run``'s training (the lessons' small net, 32x32, batch 128, full data
  set), fresh, and ``trained`` continuing from a net trained ``--trained-steps`` steps first; in
  float32 (what the lessons train in) and, on an AMX CPU, with ``precision="bf16"``;
- ``net alone``: forward, the beta-TCVAE loss, backward and the fused Adam step of the same
  Burgess net on one batch of 64 images held in memory, in a bare loop (no data loading, no
  history, no checks; subnormals flushed as in ``train.fit``), fresh and with the shipped weights, in
  float32 and (on an AMX CPU) with bfloat16 convolutions:
  the time any loop on these PyTorch
  kernels must spend.  ``net alone / reference`` is therefore the most that removing every
  overhead can give; 2x the reference needs more than that only if the kernels themselves
  get faster;
- ``reference`` (with ``--reference``, a checkout of github.com/YannDubs/disentangling-vae): its
  ``Trainer`` epoch loop, ``init_specific_model("Burgess")``, ``BtcvaeLoss`` (their hyperparam.ini:
  Adam lr 5e-4, anneal 10,000 steps) and a ``DataLoader`` over a data set that returns one image per
  item converted as their ``DSprites`` does (``ToTensor`` of the 0/255 uint8 image), here over
  ``--reference-images`` images drawn from the same dSprites (their class holds all 737,280 in
  memory; the per-item cost is the same).  Its trained row loads the shipped btcvae weights into
  their net (same layers; their mean / log-variance rows interleaved).  Their files are imported
  from a temporary copy; nothing of theirs is kept in this repository.

Each figure is (S2 - S1) * batch / (time of S2 steps - time of S1 steps): the first S1 steps
(start-up, warm-up) cancel out.  Without ``--reference`` the table shows the last measured ratio.
Take the figures on an otherwise idle machine; the table names it.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

from dvae_tutorial import data, losses, models, pretrained, runs, train
from dvae_tutorial import precision as precisions
from dvae_tutorial.denormals import flush_denormals

REPO = Path(__file__).resolve().parents[1]
# the last figures measured with the reference loop side by side (issue 15: CLI vs their loop, three runs)
LAST_MEASURED = ("2026-12-02", "Intel Xeon (family 6 model 167, AVX-512, AMX), 2 cores, torch 2.13 CPU, idle, "
                 "three side-by-side runs",
                 "CLI in bf16 (the default there) 1528-1842 (fresh net) / 1712-2006 (trained net) vs reference "
                 "873-1168 / 712-855 images/s: 1.53-2.11x / 2.35-2.46x; CLI --precision fp32 0.93-1.21x / "
                 "1.14-1.60x; the net alone in bf16 2.07-2.82x / 2.62-3.47x (2026-12-01, AMD EPYC, no AMX, fp32: "
                 "CLI 1.25-1.52x / 1.21-1.51x, net alone 1.41-1.50x / 1.36-1.37x)")


# --------------------------------------------------------------------------------------------------
# this project's paths
# --------------------------------------------------------------------------------------------------
def cli_wall_time(out: Path, steps: int, dataset: str, extra=()) -> float:
    """Seconds of training (config.json's wall_time, cumulative over resumed sessions) of one CLI run."""
    env = {k: v for k, v in os.environ.items() if k != "DVAE_TUTORIAL_FAST"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "dvae_tutorial", "train", "--method", "btcvae", "--beta", "6",
           "--batch-size", "64", "--dataset", dataset, "--steps", str(steps), "--out", str(out), *extra]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "config.json").read_text())["wall_time"]


def cli_rate(s1: int, s2: int, dataset: str, work: Path, trained: bool, precision: str) -> float:
    times = []
    for steps in (s1, s2):
        out = work / f"cli-{'trained' if trained else 'fresh'}-{precision}-{steps}"
        extra = ("--precision", precision)
        if trained:   # a one-step run folder, its weights replaced by the shipped model's, then resumed
            cli_wall_time(out, 1, dataset, extra)
            checkpoint = train.load_checkpoint(out)
            checkpoint["model"] = pretrained.load("btcvae").state_dict()
            train.save_checkpoint(out, checkpoint)
            steps, extra = steps + 1, extra + ("--resume",)
        times.append(cli_wall_time(out, steps, dataset, extra))
    return (s2 - s1) * 64 / (times[1] - times[0])


def live_run_rate(s1: int, s2: int, dataset, trained_steps: int, precision: str) -> tuple[float, float]:
    """(fresh, trained) images/s of live_run's training: small net, 32x32, batch 128, convolutions in ``precision``."""
    fresh = [runs.live_run("btcvae", steps=s, hparams={"beta": 6}, dataset=dataset, cache=False,
                           precision=precision).wall_time for s in (s1, s2)]
    base = train.run("btcvae", dataset, steps=trained_steps, hparams={"beta": 6}, architecture="small",
                     batch_size=128, seed=0, precision=precision)
    later = []
    for s in (s1, s2):
        model = models.VAE(**base.model.config)
        model.load_state_dict(base.model.state_dict())
        later.append(train.fit(model, losses.make_objective("btcvae", beta=6), dataset, steps=s, batch_size=128,
                               seed=1, precision=precision).wall_time)
    return (s2 - s1) * 128 / (fresh[1] - fresh[0]), (s2 - s1) * 128 / (later[1] - later[0])


def net_alone_rate(s1: int, s2: int, images: torch.Tensor, trained: bool, precision: str) -> float:
    """Images/s of forward + loss + backward + Adam of the Burgess net on one in-memory batch ``(64, 1, 64, 64)``,
    its convolutions in ``precision`` ("fp32" or "bf16", as ``train.fit`` runs them)."""
    torch.manual_seed(0)
    model = pretrained.load("btcvae") if trained else models.VAE()
    model = model.to(memory_format=torch.channels_last)
    objective = losses.make_objective("btcvae", beta=6)
    objective.prepare(model, 737_280, torch.device("cpu"), 0)
    optimizer = train.adam(model.parameters(), lr=5e-4)
    x = images[:64].contiguous(memory_format=torch.channels_last)

    def steps(first: int, last: int):
        for step in range(first, last):
            with precisions.autocast(precision, "cpu"):
                output = model(x, sample=True)
            terms = objective(output, x, step)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()

    with flush_denormals():                       # as train.fit does on a CPU (a trained net makes subnormals)
        steps(0, s1)                              # warm-up, untimed
        start = time.perf_counter()
        steps(s1, s2)
        return (s2 - s1) * 64 / (time.perf_counter() - start)


# --------------------------------------------------------------------------------------------------
# the reference loop (imported from a temporary copy of its checkout)
# --------------------------------------------------------------------------------------------------
REFERENCE_FILES = ("disvae/training.py", "disvae/models/vae.py", "disvae/models/encoders.py",
                   "disvae/models/decoders.py", "disvae/models/losses.py", "disvae/models/discriminator.py",
                   "disvae/utils/initialization.py", "disvae/utils/math.py")


def import_reference(checkout: Path, work: Path):
    """Their Trainer, init_specific_model and get_loss_f, without their data / plotting dependencies."""
    root = work / "reference"
    for name in REFERENCE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(checkout / name, root / name)
    for package in ("disvae", "disvae/models", "disvae/utils"):
        (root / package / "__init__.py").write_text("")      # their disvae/__init__ imports the evaluation too
    sys.modules.setdefault("imageio", types.ModuleType("imageio"))   # only their GIF writer needs it
    model_io = types.ModuleType("disvae.utils.modelIO")
    model_io.save_model = lambda *args, **kwargs: None
    sys.modules["disvae.utils.modelIO"] = model_io
    if not hasattr(np, "product"):        # their nets call np.product, removed in numpy 2
        np.product = np.prod
    sys.path.insert(0, str(root))
    from disvae.models.losses import get_loss_f
    from disvae.models.vae import init_specific_model
    from disvae.training import Trainer
    return Trainer, init_specific_model, get_loss_f


class OneImagePerItem(torch.utils.data.Dataset):
    """What their DSprites.__getitem__ does: one uint8 image, times 255, through ToTensor (-> float / 255)."""

    def __init__(self, images: np.ndarray):
        self.imgs = images                               # (n, 64, 64) uint8 of {0, 1}

    def __len__(self):
        return len(self.imgs)

    def __getitem__(self, idx):
        sample = np.expand_dims(self.imgs[idx], axis=-1) * 255
        tensor = torch.from_numpy(sample.transpose((2, 0, 1))).contiguous()   # torchvision's to_tensor
        return tensor.to(torch.float32).div(255), 0


def reference_weights(their_model, ours: torch.nn.Module) -> dict:
    """Our Burgess net's weights in their layer names (same layers in the same order)."""
    state = {}
    latent = ours.latent_dim
    interleave = torch.stack([torch.arange(latent), torch.arange(latent) + latent], dim=1).reshape(-1)
    for (name, theirs), mine in zip(their_model.state_dict().items(), ours.state_dict().values()):
        if name.startswith("encoder.mu_logvar_gen"):
            mine = mine[interleave]                      # theirs: view(-1, D, 2) -> rows mu_0, logvar_0, mu_1, ...
        if theirs.shape != mine.shape:
            raise ValueError(f"{name}: their {tuple(theirs.shape)} vs ours {tuple(mine.shape)}")
        state[name] = mine
    return state


def reference_rate(checkout: Path, work: Path, images: np.ndarray, s1: int, s2: int, trained: bool) -> float:
    Trainer, init_specific_model, get_loss_f = import_reference(checkout, work)
    dataset = OneImagePerItem(images)
    times = []
    for steps in (s1, s2):
        torch.manual_seed(1234)
        model = init_specific_model("Burgess", (1, 64, 64), 10)
        if trained:
            model.load_state_dict(reference_weights(model, pretrained.load("btcvae")))
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
        loss_f = get_loss_f("btcvae", n_data=len(dataset), device=torch.device("cpu"), rec_dist="bernoulli",
                            reg_anneal=10000, btcvae_A=1, btcvae_B=6, btcvae_G=1)
        trainer = Trainer(model, optimizer, loss_f, device=torch.device("cpu"), save_dir=str(work))
        sampler = torch.utils.data.RandomSampler(dataset, num_samples=steps * 64)
        loader = torch.utils.data.DataLoader(dataset, batch_size=64, sampler=sampler)
        model.train()
        start = time.perf_counter()
        trainer._train_epoch(loader, storer=collections.defaultdict(list), epoch=0)   # as their Trainer.__call__
        times.append(time.perf_counter() - start)
    return (s2 - s1) * 64 / (times[1] - times[0])


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, help="a checkout of github.com/YannDubs/disentangling-vae")
    parser.add_argument("--dataset", default="dsprites", choices=("dsprites", "dsprites-small"))
    parser.add_argument("--steps", type=int, nargs=2, default=(20, 220), metavar=("S1", "S2"),
                        help="64x64 rows: time S2 steps minus S1 steps")
    parser.add_argument("--live-steps", type=int, nargs=2, default=(50, 550), metavar=("S1", "S2"))
    parser.add_argument("--trained-steps", type=int, default=3000, help="live_run's trained net: steps first")
    parser.add_argument("--reference-images", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps everywhere")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.live_steps, args.trained_steps, args.reference_images = (2, 6), (2, 6), 20, 2000

    small = args.dataset == "dsprites-small"
    ds64 = data.DSprites.small() if small else data.DSprites()        # rendered (once) before any clock runs
    ds32 = data.DSprites.small(image_size=32) if small else data.DSprites(image_size=32)
    machine = train.machine()
    auto = precisions.resolve("auto", "cpu", models.VAE())         # what the CLI and live_run train in here
    precisions_run = ["fp32"] + (["bf16"] if auto == "bf16" else [])
    rows = []                                                        # (path, net, setting, precision, images/s)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        s1, s2 = args.steps
        for precision in sorted(precisions_run, key=lambda p: p != auto):     # the default first
            path = "cli" if precision == auto else f"cli --precision {precision}"
            for state in ("fresh", "trained"):
                rows.append((path, state, "burgess 64x64, batch 64", precision,
                             cli_rate(s1, s2, args.dataset, work, state == "trained", precision)))
        batch = ds64.images(np.sort(np.random.default_rng(0).choice(len(ds64), size=64, replace=False)))
        for precision in precisions_run:
            for state in ("fresh", "trained"):
                rows.append(("net alone", state, "burgess 64x64, batch 64", precision,
                             net_alone_rate(s1, s2, batch, state == "trained", precision)))
        for precision in precisions_run:        # live_run trains in fp32 unless asked (the lessons do not ask)
            fresh, later = live_run_rate(*args.live_steps, ds32, args.trained_steps, precision)
            rows.append(("runs.live_run", "fresh", "small 32x32, batch 128", precision, fresh))
            rows.append(("runs.live_run", f"trained {args.trained_steps} steps", "small 32x32, batch 128", precision,
                         later))
        if args.reference is not None:
            rng = np.random.default_rng(0)
            idx = np.sort(rng.choice(len(ds64), size=min(args.reference_images, len(ds64)), replace=False))
            images = ds64.images(idx)[:, 0].to(torch.uint8).numpy()
            for state in ("fresh", "trained"):
                rows.append(("reference", state, "burgess 64x64, batch 64", "fp32",
                             reference_rate(args.reference, work, images, s1, s2, state == "trained")))

    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
          f"torch {machine['torch']}, python {machine['python']}; Intel AMX: "
          f"{'yes' if precisions.cpu_has_amx() else 'no'}, so --precision auto trains in {auto}")
    print(f"data: {args.dataset}; 64x64 rows time steps {args.steps[1]} - {args.steps[0]}, "
          f"live_run rows {args.live_steps[1]} - {args.live_steps[0]}")
    reference = {state: rate for path, state, _, _, rate in rows if path == "reference"}
    print(f"{'path':<24} {'net':<18} {'setting':<24} {'convs':<6} {'images/s':>9} {'vs reference':>13}")
    for path, state, setting, precision, rate in rows:
        ratio = reference.get(state) if path.startswith(("cli", "net alone")) else None
        print(f"{path:<24} {state:<18} {setting:<24} {precision:<6} {rate:>9.0f} "
              f"{(f'{rate / ratio:.2f}x' if ratio else ''):>13}")
    for state, ratio in reference.items():
        cli = next(rate for path, s, _, _, rate in rows if path == "cli" and s == state)
        alone = next(rate for path, s, _, p, rate in rows if path == "net alone" and s == state and p == auto)
        outside = 1 - cli / alone
        print(f"{state} net: the CLI ({auto}) spends " + (f"{100 * outside:.0f}% of its time outside the net's own "
              f"kernels" if outside > 0.02 else "no measurable time outside the net's own kernels") +
              f"; a loop with no overhead at all would run {alone / ratio:.2f}x the reference"
              + ("" if cli >= 2 * ratio else f", so 2x needs kernels {2 * ratio / alone:.2f}x faster than these"))
    if not reference:
        date, where, figures = LAST_MEASURED
        print(f"reference not run (give --reference CHECKOUT); last measured {date} on {where}: {figures}")


if __name__ == "__main__":
    main()

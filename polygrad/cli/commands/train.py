"""`polygrad train`: train a classifier on a dataset, on any backend and device.

With no options it trains the MLP on the embedded digits on the default
backend. Each run writes into its own new folder OUT, runs/train-<date>-<time>
unless --out names one. Each epoch prints the training loss, the validation
accuracy and the throughput, and at its end saves OUT/checkpoint.npz; the end
of the run writes OUT/metrics.json and OUT/curves.png (with matplotlib).

Ctrl-C stops the run and exits 130. OUT/checkpoint.npz is left as it was: the
state at the end of the last finished epoch. The weights and optimizer state as
they were at the moment of the Ctrl-C, part way into an epoch, go to
OUT/interrupted.npz, for inspection or evaluation only: nothing resumes from it.
`--resume --out OUT` continues from OUT/checkpoint.npz, running the interrupted
epoch again from its start. The same seed gives the same metrics on the same backend,
and a resumed run the same as an unbroken one. Resumed with a larger --epochs, the
learning rate follows the cosine of the longer run from the next epoch on (what a run
started with that --epochs would use there). An OUT that already holds a run is
refused unless --resume continues it or --force replaces it.

Started by `mpiexec -n N` (or srun), it trains data-parallel: the global
--batch-size is split across the N processes, each reads its share of every
epoch (DistributedSampler) and DistributedDataParallel averages the gradients.
Rank 0 alone shows the progress bar, prints, and writes the checkpoint,
metrics.json (with world_size and throughput) and the plot. A rank that fails
ends every rank, with its message.
"""

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import polygrad as pg

from ... import backends, data, distributed, nn
from ...io import checkpoint
from ...nn import models
from ... import optim
from ...core.placement import resolve_device, resolve_dtype

DATASETS = ("digits", "mnist", "fashion-mnist")
OPTIMIZERS = {
    "sgd": (0.05, lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)),
    "adam": (3e-3, lambda params, lr: optim.Adam(params, lr=lr)),
    "adamw": (3e-3, lambda params, lr: optim.AdamW(params, lr=lr, weight_decay=1e-2)),
    "rmsprop": (1e-3, lambda params, lr: optim.RMSprop(params, lr=lr)),
}


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _dataset(text):
    if text in DATASETS:
        return text
    if text.endswith(".npz"):
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text}")
        return text
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(DATASETS)} or a PATH.npz, got {text!r}")


def configure(parser):
    parser.epilog = ("Each run writes into a new folder OUT (runs/train-<date>-<time> unless --out names one). Each "
                     "finished epoch is saved to OUT/checkpoint.npz. Ctrl-C exits 130, leaving that file at the "
                     "end of the last finished epoch and writing the weights of the moment to OUT/interrupted.npz "
                     "(not resumable); --resume --out OUT reruns the interrupted epoch from its start.")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="classifier (default: mlp)")
    parser.add_argument("--dataset", type=_dataset, default="digits", metavar="{digits,mnist,fashion-mnist,PATH.npz}",
                        help="embedded digits (default), MNIST or Fashion-MNIST (downloaded), or an .npz with x, y")
    parser.add_argument("--backend", choices=backends.names(), default=None,
                        help=f"array backend (default: {backends.default_name()})")
    parser.add_argument("--device", default=None, help="device of the backend, e.g. cpu, cuda:0, device1")
    parser.add_argument("--epochs", type=_positive(int), default=20, help="epochs in total (default: 20)")
    parser.add_argument("--batch-size", type=_positive(int), default=32, help="training batch size (default: 32)")
    parser.add_argument("--lr", type=_positive(float), default=None,
                        help="peak learning rate, annealed by a cosine (default: per optimizer: "
                        + ", ".join(f"{name} {lr:g}" for name, (lr, _) in OPTIMIZERS.items()) + ")")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam", help="(default: adam)")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                        help="mixed precision: the forward pass under autocast in bfloat16 or float16 (fp16 with a "
                             "GradScaler); parameters stay float32 (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling (default: 0)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: a new runs/train-<date>-<time> for each run)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out OUT from OUT/checkpoint.npz, the end of the last finished "
                        "epoch (an epoch cut short by Ctrl-C runs again from its start; OUT/interrupted.npz is never "
                        "resumed from); a larger --epochs continues the learning-rate schedule of that longer run")
    parser.add_argument("--force", action="store_true",
                        help="start a new run in an --out OUT that holds one, replacing it (without --force that "
                        "is refused)")


def _usage_error(message):
    print(f"polygrad train: error: {message}", file=sys.stderr)
    return 2


def output_folder(out):
    """The run's folder: `out`, created if need be, or a new runs/train-<date>-<time>[-<n>] of its own.

    Raises ValueError naming the folder if it cannot be created or written into.
    """
    folder = Path("runs") if out is None else Path(out)
    if folder.is_file():
        raise ValueError(f"--out {folder}: is a file, not a folder")
    try:
        if out is not None:
            folder.mkdir(parents=True, exist_ok=True)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for n in itertools.count(1):
                folder = Path("runs") / (f"train-{stamp}" if n == 1 else f"train-{stamp}-{n}")
                try:
                    folder.mkdir(parents=True)  # exclusive: runs started in the same second get their own folders
                    break
                except FileExistsError:
                    pass
        with tempfile.TemporaryFile(dir=folder):  # writable? Better to know now than after the first epoch
            pass
    except OSError as error:
        raise ValueError(f"--out {folder}: cannot write there ({error.strerror or error})") from None
    return folder


def _unresumable(saved):
    """What keeps checkpoint metadata from being what `polygrad train` saved (None if nothing)."""
    config, scheduler, history = saved.get("config"), saved.get("scheduler"), saved.get("history")
    if saved["epoch"] is None:
        return "it holds no epoch count"
    if not isinstance(config, dict) or not all(isinstance(config.get(k), str) for k in ("model", "dataset", "optimizer")):
        return "its 'config' is not an object naming the model, dataset and optimizer"
    if not isinstance(scheduler, dict) or not isinstance(scheduler.get("last_epoch"), int) or not (
            isinstance(scheduler.get("base_lrs"), list)
            and all(isinstance(lr, (int, float)) and math.isfinite(lr) for lr in scheduler["base_lrs"])):
        return "its 'scheduler' is not an object with an integer 'last_epoch' and a list of numbers 'base_lrs'"
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return "its 'history' is not a list of objects"
    return None


def load_dataset(name):
    """((x_train, y_train), (x_val, y_val)) as host arrays, images shaped (N, H, W) or (N, C, H, W).

    Digits and .npz files hold out a fixed 20% (split seed 0, whatever --seed
    is, so every run is scored on the same samples); MNIST-style sets use their test split.
    """
    if name in ("mnist", "fashion-mnist"):
        load = data.load_mnist if name == "mnist" else data.load_fashion_mnist
        return load("train"), load("test")
    x, y = data.load_digits() if name == "digits" else data.load_npz(name)
    return data.train_val_split(x, y, val_fraction=0.2, seed=0)


def build_model(kind, sample_shape, num_classes, device):
    """The model for samples of `sample_shape`; the CNN needs square images (H, W) or (C, H, W)."""
    if kind == "mlp":
        return models.mlp(math.prod(sample_shape), num_classes, device=device)
    if len(sample_shape) not in (2, 3) or sample_shape[-1] != sample_shape[-2]:
        raise ValueError(f"--model cnn needs square images shaped (H, W) or (C, H, W), got samples of {sample_shape}")
    channels = sample_shape[0] if len(sample_shape) == 3 else 1
    return models.cnn(channels, sample_shape[-1], num_classes, device=device)


def train_epoch(model, loader, loss_fn, optimizer, description, show_progress=True, precision=None):
    """One pass over `loader`; returns the mean training loss (read from the device once).

    `precision` is None (float32) or a MixedPrecision: the forward pass under its autocast, the
    loss scaled by its GradScaler (enabled for float16). The progress bar shows on a terminal only
    (tqdm's disable=None), keeping logs clean.
    """
    model.train()
    total, count = 0.0, 0
    precision = precision or MixedPrecision(None, None)
    for x, y in tqdm(loader, desc=description, leave=False, unit="batch", disable=None if show_progress else True):
        optimizer.zero_grad()
        with precision.autocast():
            loss = loss_fn(model(x), y)
        precision.scaler.scale(loss).backward()
        precision.scaler.step(optimizer)
        precision.scaler.update()
        total = loss.detach() * len(y) + total
        count += len(y)
    return float(total) / count


class MixedPrecision:
    """--amp bf16|fp16 on `device`: autocast of its device type, and a GradScaler for float16 (bfloat16 has
    float32's range and needs none); --amp none (None) is float32 with both disabled."""

    DTYPES = {"bf16": "bfloat16", "fp16": "float16"}

    def __init__(self, amp, device):
        self.device_type = "cuda" if device is not None and device.name.startswith("cuda") else "cpu"
        self.dtype = self.DTYPES.get(amp)
        self.scaler = pg.amp.GradScaler(self.device_type, enabled=amp == "fp16")

    def autocast(self):
        return pg.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)


def evaluate(model, loader):
    """Fraction of correctly classified samples."""
    model.eval()
    correct, count = 0, 0
    with pg.no_grad():
        for x, y in loader:
            correct = pg.sum(pg.astype(model(x).argmax(axis=1) == y, "int64")) + correct
            count += len(y)
    return int(correct) / count


def run(args):
    code = _train(args)
    if code and distributed.is_initialized() and distributed.get_world_size() > 1:
        distributed.abort(f"polygrad train exited with status {code}", code)  # the other ranks would wait forever
    return code


def _join_process_group(device, requested):
    """Under mpiexec / srun with several processes: join the group. Returns (rank, world size, device);
    a GPU rank takes the GPU of its local rank unless --device named one."""
    if distributed.launcher_environment()[1] > 1 and not distributed.is_initialized():
        distributed.init_process_group()
    if not distributed.is_initialized():
        return 0, 1, device
    if device.name.startswith("cuda") and requested in (None, "cuda"):
        gpus = [d for d in device.backend.devices() if d.name.startswith("cuda")]
        device = gpus[distributed.get_local_rank() % len(gpus)]
    return distributed.get_rank(), distributed.get_world_size(), device


def _mean_over_ranks(value, world):
    if world == 1:
        return value
    t = pg.tensor(value, dtype="float64")
    distributed.all_reduce(t, op=distributed.ReduceOp.AVG)
    return t.item()


def _train(args):
    try:
        device = resolve_device(args.device, args.backend)
    except (ValueError, backends.BackendUnavailable) as error:
        return _usage_error(error)
    rank, world, device = _join_process_group(device, args.device)
    if args.batch_size % world:
        return _usage_error(f"--batch-size {args.batch_size} does not split evenly across {world} processes")
    say = print if rank == 0 else lambda *args, **kwargs: None
    try:
        (x_train, y_train), (x_val, y_val) = load_dataset(args.dataset)
    except data.DatasetError as error:
        print(f"polygrad train: {error}", file=sys.stderr)
        return 1
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0  # normalise with training statistics only
    x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    if args.model == "cnn" and x_train.ndim == 3:
        x_train, x_val = x_train[:, None], x_val[:, None]  # one channel
    num_classes = int(max(y_train.max(), y_val.max())) + 1

    pg.manual_seed(args.seed)
    try:
        model = build_model(args.model, x_train.shape[1:], num_classes, device)
    except ValueError as error:
        return _usage_error(error)
    amp = None if args.amp == "none" else args.amp
    if amp is not None:
        try:
            resolve_dtype(MixedPrecision.DTYPES[amp], device)
        except pg.DtypeError as error:
            return _usage_error(f"--amp {amp}: {error}")
    precision = MixedPrecision(amp, device)
    default_lr, make_optimizer = OPTIMIZERS[args.optimizer]
    lr = args.lr or default_lr
    optimizer = make_optimizer(model.parameters(), lr)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    config = {"model": args.model, "dataset": args.dataset, "backend": device.backend.name, "device": device.name,
              "epochs": args.epochs, "batch_size": args.batch_size, "lr": lr, "optimizer": args.optimizer,
              "seed": args.seed, "normalize": [mean, std], "amp": args.amp}

    if args.resume and args.out is None:
        return _usage_error("--resume needs --out OUT, the folder of the run to continue")
    try:  # rank 0 writes every file; the other ranks only read a --resume checkpoint from --out
        out = output_folder(args.out) if rank == 0 else Path(args.out or "runs")
    except ValueError as error:
        return _usage_error(error)
    path = out / "checkpoint.npz"  # the end of the last finished epoch: what --resume continues from
    interrupted_path = out / "interrupted.npz"  # the weights at a Ctrl-C, mid-epoch: never resumed from
    run_files = [path, out / "metrics.json", out / "curves.png", interrupted_path]
    if rank == 0 and not args.resume and any(f.exists() for f in run_files[:2]):
        if not args.force:
            return _usage_error(f"--out {out} already holds a run; continue it with --resume, replace it with "
                                "--force, or name a new folder")
        for stale in run_files:  # nothing of the replaced run stays beside the new one
            stale.unlink(missing_ok=True)
    history, start = [], 0
    if args.resume:
        if not path.is_file():
            return _usage_error(f"--resume: no checkpoint at {path}")
        try:
            saved = checkpoint.metadata(path)
            problem = _unresumable(saved)
            if problem:
                raise checkpoint.CheckpointError(f"{path}: cannot resume from it: {problem}")
            for key in ("model", "dataset", "optimizer"):
                if saved["config"][key] != config[key]:
                    return _usage_error(f"--resume: {path} was trained with --{key} {saved['config'][key]}, "
                                        f"not {config[key]}")
            checkpoint.load(path, model, optimizer)
            if saved.get("scaler") and precision.scaler.is_enabled():  # --amp fp16: its loss scale goes on
                precision.scaler.load_state_dict(saved["scaler"])
        except checkpoint.CheckpointError as error:
            print(f"polygrad train: {error}", file=sys.stderr)
            return 1
        if saved.get("interrupted"):  # written by an older polygrad, which saved Ctrl-C weights here
            print(f"polygrad train: warning: {path} holds weights saved at a Ctrl-C part way into epoch "
                  f"{saved['epoch'] + 1}; that epoch runs again in full on them, so this run will not match "
                  "an unbroken one", file=sys.stderr)
        history, start = saved["history"], saved["epoch"]
        if start >= args.epochs:
            return _usage_error(f"--resume: {path} already holds {start} epoch{'s' * (start != 1)}; "
                                "ask for more with --epochs")
        if saved["scheduler"].get("T_max") == args.epochs:
            scheduler.load_state_dict(saved["scheduler"])
        else:  # a longer (or shorter) run: from here on, its cosine, as if started with this --epochs
            say(f"resuming at epoch {start + 1} of {args.epochs}; the run was started with --epochs "
                f"{saved['config'].get('epochs')}, so the learning rate follows the {args.epochs}-epoch cosine "
                "from here")
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"]
            scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
            for _ in range(start):
                scheduler.step()  # that run's schedule replayed up to here: its lrs to the bit
    finished = start  # epochs whose end state OUT/checkpoint.npz holds, from this run or the resumed one

    def save(target, epoch, **extra):
        checkpoint.save(target, model, optimizer, epoch=epoch, config=config, history=history,
                        scheduler=scheduler.state_dict(), scaler=precision.scaler.state_dict(), **extra)

    train_set = data.TensorDataset(x_train, y_train)
    if world == 1:
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed, device=device)
    else:
        sampler = data.DistributedSampler(train_set, world, rank, shuffle=True, seed=args.seed)
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size // world, sampler=sampler, device=device)
    trained = model if world == 1 else nn.parallel.DistributedDataParallel(model)
    val_loader = data.DataLoader(data.TensorDataset(x_val, y_val), batch_size=512, device=device)
    loss_fn = nn.CrossEntropyLoss()
    say(f"training {args.model} on {args.dataset} ({len(y_train)} train / {len(y_val)} validation samples) "
        f"with {args.optimizer} lr {lr:g} on {device.backend.name} {device.name}"
        + (f", mixed precision {precision.dtype}" if amp else "")
        + (f", {world} processes" if world > 1 else ""))
    began = time.perf_counter()
    epoch = start
    try:
        for epoch in range(start, args.epochs):
            train_loader.set_epoch(epoch)  # the epoch's shuffle, also after --resume
            tick = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss = train_epoch(trained, train_loader, loss_fn, optimizer, f"epoch {epoch + 1}/{args.epochs}",
                               show_progress=rank == 0, precision=precision)
            loss = _mean_over_ranks(loss, world)
            seconds = time.perf_counter() - tick
            accuracy = evaluate(model, val_loader)
            scheduler.step()
            history.append({"epoch": epoch + 1, "lr": lr, "train_loss": loss, "val_accuracy": accuracy,
                            "samples_per_s": len(y_train) / seconds, "seconds": seconds})
            say(f"epoch {epoch + 1:3d}/{args.epochs}  loss {loss:.4f}  val_acc {accuracy:.2%}  "
                f"{len(y_train) / seconds:,.0f} samples/s")
            if rank == 0:
                save(path, epoch + 1)
            finished = epoch + 1
    except KeyboardInterrupt:
        # Not into checkpoint.npz: these weights are part way into an epoch, and resuming from them would
        # train on part of that epoch twice. The file's epoch is the number of finished epochs.
        history = history[:finished]  # an epoch interrupted while being saved is not finished
        if finished > start or args.resume:
            resumable = f"{path} holds the end of epoch {finished}; --resume --out {out} continues from there"
        else:
            resumable = "no epoch of this run finished, so there is nothing to resume: run again without --resume"
        try:
            if rank == 0:
                save(interrupted_path, finished, interrupted=True, interrupted_in_epoch=epoch + 1)
        except KeyboardInterrupt:  # a second Ctrl-C: stop saving too, still without a traceback
            say(f"\ninterrupted again while saving {interrupted_path}, which is not written; {resumable}",
                file=sys.stderr)
            return 130
        say(f"\ninterrupted in epoch {epoch + 1}: saved the weights as they were to {interrupted_path} "
            f"(not resumable); {resumable}", file=sys.stderr)
        return 130
    except checkpoint.CheckpointError as error:  # e.g. the disk filled up
        print(f"polygrad train: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - began
    if rank != 0:
        return 0

    final = history[-1]["val_accuracy"] if history else None
    metrics = {"config": config, "history": history, "final_val_accuracy": final,
               "best_val_accuracy": max((h["val_accuracy"] for h in history), default=None),
               "seconds": elapsed, "world_size": world,
               "samples_per_s": len(y_train) * len(history) / sum(h["seconds"] for h in history) if history else None}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    interrupted_path.unlink(missing_ok=True)  # the run went past the Ctrl-C it holds: nothing to inspect there now
    written = ["metrics.json", path.name] + _plot(history, out / "curves.png")
    if final is not None:
        print(f"final validation accuracy {final:.2%} after {len(history)} epoch{'s' * (len(history) != 1)}; "
              f"trained in {elapsed:.1f} s; wrote {', '.join(str(out / name) for name in written)}")
    return 0


def _plot(history, path):
    """Loss and accuracy per epoch as a PNG; returns [file name], or [] without matplotlib."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no curves.png (pip install 'polygrad[plot]')")
        return []
    epochs = [h["epoch"] for h in history]
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, [h["train_loss"] for h in history], marker="o")
    loss_axes.set(title="training loss", xlabel="epoch")
    accuracy_axes.plot(epochs, [100 * h["val_accuracy"] for h in history], marker="o", color="tab:green")
    accuracy_axes.set(title="validation accuracy (%)", xlabel="epoch")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.savefig(path, dpi=100)
    return [path.name]

"""
Experiment grids on Dask (provided; nothing to implement here).

    python -m hw.grid exp1_1                 # on this machine
    python -m hw.grid exp1_1 exp1_2 --scheduler tcp://HOST:8786

A grid is a list of configurations of run_experiment. They run in parallel
with Dask distributed: by default on a cluster of worker processes on this
machine (one per core), and with --scheduler on an existing Dask cluster (lab
machines over SSH, or Slurm/PBS through dask-jobqueue: see the README). Each
worker sends its run's result back here, where it is written to the results
folder as soon as it arrives; a configuration whose result file is already
there (with the same configuration) is not run again, and one that fails
writes its log next to where its result would be and does not stop the others.
"""
import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hw.data import fast_mode
from hw.experiments import config_kwargs, result_name, run_experiment


@dataclass
class Grid:
    title: str
    model_type: str
    runs: list  # (filters_per_layer, layers_per_block) of each configuration
    fast_runs: list  # the same, tiny, for HW_FAST=1
    model_kwargs: dict = field(default_factory=dict)


GRIDS = {
    "exp1_1": Grid("1.1: depth, K in {32, 64} x L in {2, 4, 8, 16}", "cnn",
                   [([k], depth) for k in (32, 64) for depth in (2, 4, 8, 16)],
                   [([k], depth) for k in (16, 32) for depth in (1, 4, 8)]),  # in fast mode too, L = 8 does not train
    "exp1_2": Grid("1.2: width, L in {2, 4, 8} x K in {32, 64, 128, 256}", "cnn",
                   [([k], depth) for depth in (2, 4, 8) for k in (32, 64, 128, 256)],
                   [([k], depth) for depth in (1, 4) for k in (16, 32)]),
    "exp1_3": Grid("1.3: K = [64, 128] with L in {2, 3, 4}", "cnn",
                   [([64, 128], depth) for depth in (2, 3, 4)],
                   [([16, 32], depth) for depth in (1, 2)]),
    "exp1_4": Grid("1.4: ResNet, K = [32] with L in {8, 16, 32}; K = [64, 128, 256] with L in {2, 4, 8}", "resnet",
                   [([32], depth) for depth in (8, 16, 32)] + [([64, 128, 256], depth) for depth in (2, 4, 8)],
                   [([16], 2), ([16], 8), ([16, 32], 1)], model_kwargs={"batchnorm": True}),  # L = 8 as in 1.1
}  # fmt: skip

# The training settings of every grid; --epochs and the other options change them.
SETTINGS = dict(seed=42, bs_train=128, bs_test=256, batches=100, epochs=30, early_stopping=5, lr=1e-3, reg=1e-3,
                hidden_dims=[100], dataset="cifar10")  # fmt: skip
# About 2 s per configuration on one core, long enough for the curves to rise: 3,750 Shapes images seen.
FAST_SETTINGS = dict(SETTINGS, bs_train=50, bs_test=250, batches=25, epochs=3, early_stopping=None, lr=3e-3, reg=1e-4,
                     hidden_dims=[32])  # fmt: skip
MAX_POOLINGS = 4  # 32x32 images end 2x2: one pooling more would leave 1x1 maps, and a deep grid would reach 0x0


def pool_every(filters_per_layer, layers_per_block) -> int:
    """P that spreads at most MAX_POOLINGS poolings over the network's convolutions."""
    return max(1, math.ceil(len(filters_per_layer) * layers_per_block / MAX_POOLINGS))


def grid_configs(name: str, out_dir="results", **overrides) -> list:
    """The run_experiment keyword arguments of every configuration of grid ``name``."""
    grid = GRIDS[name]
    settings = (FAST_SETTINGS if fast_mode() else SETTINGS) | {k: v for k, v in overrides.items() if v is not None}
    return [
        dict(settings, run_name=name, out_dir=str(out_dir), filters_per_layer=list(k), layers_per_block=depth,
             pool_every=pool_every(k, depth), model_type=grid.model_type, **grid.model_kwargs)
        for k, depth in (grid.fast_runs if fast_mode() else grid.runs)
    ]  # fmt: skip


def result_path(cfg) -> Path:
    return Path(cfg["out_dir"]) / result_name(cfg["run_name"], cfg["layers_per_block"], cfg["filters_per_layer"])


def is_finished(cfg) -> bool:
    """Whether the configuration's result file is there, from this very configuration."""
    try:
        saved = config_kwargs(json.loads(result_path(cfg).read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(saved.get(key) == value for key, value in cfg.items() if key != "device")


class ConsoleLog(io.TextIOBase):
    """
    What a run prints, kept as a terminal would show it: a carriage return
    goes back to the start of the line, so the thousands of updates of a
    progress bar leave one line each, not megabytes.
    """

    def __init__(self):
        self.lines, self.current = [], ""

    def write(self, text):
        for i, piece in enumerate(text.split("\n")):
            if i:
                self.lines.append(self.current)
                self.current = ""
            self.current = piece.rsplit("\r", 1)[-1] if "\r" in piece else self.current + piece
        return len(text)

    def getvalue(self):
        return "\n".join(self.lines + [self.current])


def run_on_worker(cfg, fast: bool, threads=None):
    """
    Runs one configuration on a Dask worker, in fast mode if the machine that
    asked is in it. Returns (the result file's text or None if the run
    failed, what the run printed).
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    os.environ["HW_FAST"] = "1" if fast else "0"  # the data set is the one the grid was made for
    log = ConsoleLog()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            path = run_experiment(**dict(cfg, out_dir=tmp))
            saved = json.loads(Path(path).read_text())
        except Exception:  # noqa: BLE001 - the student's code may raise anything; the log says what
            traceback.print_exc(file=log)
            return None, log.getvalue().replace(tmp, cfg["out_dir"])
        printed = log.getvalue().replace(tmp, cfg["out_dir"])
    saved["config"]["out_dir"] = cfg["out_dir"]  # where the result lives, not the worker's temporary folder
    return json.dumps(saved, indent=2), printed


def homework_fingerprint() -> str:
    """A hash of the hw/*.py files the calling process imports."""
    import hw

    sha = hashlib.sha256()
    for path in sorted(Path(hw.__file__).parent.glob("*.py")):
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


class GridError(RuntimeError):
    """The grid cannot run: the cluster is unreachable or its workers have other homework code."""


def check_workers(client):
    """Every worker must run this very hw/ code, or its results would not be those of this homework."""
    expected = homework_fingerprint()

    def problem():
        try:
            return None if homework_fingerprint() == expected else "its hw/ differs from this machine's"
        except ImportError:
            return "it cannot import hw (start it in the homework's folder with PYTHONPATH=$PWD)"

    problems = {address: why for address, why in client.run(problem).items() if why}
    if problems:
        raise GridError("; ".join(f"worker {address}: {why}" for address, why in sorted(problems.items())))


def torch_worker_environment() -> dict:
    """
    Dask's settings for the worker processes it starts, without the
    MALLOC_TRIM_THRESHOLD_ it sets by default. That setting turns off glibc's
    adaptive threshold for serving large blocks from the system: every tensor
    of more than 128 KB is then mapped and unmapped again (measured: one
    configuration of the fast grids took 3.4 s on such a worker, half of
    it in the kernel, and 1.8 s without the setting).
    """
    import importlib

    import dask

    importlib.import_module("distributed")  # which puts distributed's defaults into dask.config
    key = "distributed.nanny.pre-spawn-environ"
    return {key: {k: v for k, v in dask.config.get(key).items() if k != "MALLOC_TRIM_THRESHOLD_"}}


def connect(address: str):
    """A Dask client of the scheduler at ``address`` that has at least one worker; GridError says why not."""
    from distributed import Client

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise GridError(f"cannot reach the Dask scheduler at {address} ({exc}); is `dask scheduler` running there?") from None
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        client.close()
        raise GridError(f"the Dask scheduler at {address} has no worker; start some (see the README)") from None
    return client


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None):
    """A client of the Dask scheduler at ``scheduler``, or of a new cluster of ``workers`` processes here."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with connect(scheduler) as client:
            check_workers(client)
            yield client
        return
    with dask.config.set(torch_worker_environment()):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:  # fmt: skip
            yield client


def run_grids(names, out_dir="results", scheduler=None, workers=None, **overrides) -> dict:
    """
    Runs every configuration of the grids ``names`` that is not finished yet.

    Returns:
    - {"finished": result paths (new or already there), "failed": log paths}.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    configs = [cfg for name in names for cfg in grid_configs(name, out_dir, **overrides)]
    pending = [cfg for cfg in configs if not is_finished(cfg)]
    done = [str(result_path(cfg)) for cfg in configs if cfg not in pending]
    print(f"{len(configs)} configuration(s) in {', '.join(names)}: {len(done)} already finished, {len(pending)} to run"
          + (" (HW_FAST=1: tiny configurations on embedded data)" if fast_mode() else ""))  # fmt: skip
    failed = []
    if not pending:
        return {"finished": done, "failed": failed}
    workers = workers or min(os.cpu_count() or 1, len(pending))
    # Workers on this machine share its cores: each takes its share of threads rather than every core.
    threads = None if scheduler else max(1, (os.cpu_count() or 1) // workers)
    with dask_client(scheduler, workers) as client:
        futures = {client.submit(run_on_worker, cfg, fast_mode(), threads, pure=False): cfg for cfg in pending}
        with tqdm(total=len(pending), desc="configurations", unit="run") as bar:
            for future in as_completed(futures):
                cfg = futures[future]
                path = result_path(cfg)
                try:
                    text, log = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: the run took its worker down
                    text, log = None, f"the run ended its worker: {type(exc).__name__}: {exc}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_suffix(".log").write_text(log)
                if text is None:
                    failed.append(str(path.with_suffix(".log")))
                    last = log.strip().splitlines()[-1] if log.strip() else "no output"
                    bar.write(f"FAILED {path.name}: {last} (see {path.with_suffix('.log')})")
                else:
                    partial = path.with_name(path.name + ".partial")
                    partial.write_text(text)
                    os.replace(partial, path)
                    results = json.loads(text)["results"]
                    best = max(results["test_acc"], default=float("nan"))
                    bar.write(f"{path.name}: best test accuracy {best:.1f}% in {results['num_epochs']} epoch(s)")
                    done.append(str(path))
                bar.update()
                bar.set_postfix(failed=len(failed))
    return {"finished": done, "failed": failed}


def parse_cli(argv=None):
    grid = argparse.ArgumentParser(prog="python -m hw.grid", formatter_class=argparse.RawDescriptionHelpFormatter,
                                   description="Runs every configuration of experiment grids, in parallel with Dask.\n\n"
                                               + "\n".join(f"{name}: {g.title}" for name, g in GRIDS.items()))  # fmt: skip
    grid.add_argument("names", nargs="+", choices=sorted(GRIDS), metavar="NAME", help=", ".join(sorted(GRIDS)))
    grid.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    grid.add_argument("--workers", type=int, default=None, help="worker processes here (default: one per core)")
    grid.add_argument("--out-dir", "-o", default="results", help="folder of the result files")
    for option, kind in [("--epochs", int), ("--batches", int), ("--bs-train", int), ("--early-stopping", int),
                         ("--lr", float), ("--reg", float), ("--seed", int), ("--device", str), ("--dataset", str)]:  # fmt: skip
        grid.add_argument(option, type=kind, default=None, help="instead of the grid's setting")
    return grid.parse_args(argv)


def main(argv=None):
    args = parse_cli(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("names", "scheduler", "workers", "out_dir")}
    try:
        outcome = run_grids(args.names, args.out_dir, args.scheduler, args.workers, **overrides)
    except GridError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{len(outcome['finished'])} result file(s) in {args.out_dir}; {len(outcome['failed'])} failed")
    if outcome["failed"]:
        raise SystemExit(1)
    return outcome


if __name__ == "__main__":
    main()

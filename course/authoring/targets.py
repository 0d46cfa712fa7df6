"""
``course targets``: every accuracy a notebook promises, measured on the real
data sets with the solution.

Each source notebook runs top to bottom without HW_FAST (as ``course
validate --real`` does), as one task of the Dask runner of Part 5's grids
(hw/grid.py): on this machine, or with ``--scheduler`` on a cluster whose
workers have this repository and the data sets. The notebooks' checks call
hw.targets.check_target, which records what each training reached; the
table lists every target with what was reached and how long its notebook
took.
"""
import json
import os
import tempfile
import time
from pathlib import Path

from course import source_notebooks

# The real data sets each notebook reads (hw/data.py's names, "trec" for hw/text.py, "detector" for the weights of
# hw/detection.py's pretrained detector).
DATASETS = {
    "Part1_Backprop.ipynb": [],
    "Part2_Optimization.ipynb": ["cifar10"],
    "Part3_Convolution.ipynb": ["cifar10"],
    "Part4_Architectures.ipynb": ["cifar10"],
    "Part5_Experiments.ipynb": ["cifar10", "fashion_mnist", "trec", "cifar100"],
    "Part6_Inside.ipynb": ["cifar10", "detector"],
}


def missing_datasets(names) -> list:
    """The messages of the data sets of ``names`` that this machine does not have."""
    from hw import data, detection, text

    missing = []
    for name in names:
        try:
            if name == "trec":
                text.trec(train=False)
            elif name == "detector":
                detection.require_weights()
            else:
                getattr(data, name)(train=False)
        except data.DatasetMissing as exc:
            missing.append(str(exc).splitlines()[0])
    return missing


def run_notebook(name: str, source: str) -> dict:
    """
    A Dask task: runs the notebook (its text) on the real data sets of the
    machine it runs on. Returns its targets, its failing cells and its time.
    """
    from course.authoring.validate import run_notebooks

    missing = missing_datasets(DATASETS.get(name, []))
    if missing:
        return {"notebook": name, "targets": [], "errors": missing, "seconds": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(source)
        records = Path(folder) / "targets.jsonl"
        os.environ["HW_TARGETS_FILE"] = str(records)  # the notebook's kernel inherits it
        start = time.monotonic()
        try:
            cells = run_notebooks([path], fast=False, cell_timeout=4 * 3600, progress=False)
        finally:
            del os.environ["HW_TARGETS_FILE"]
        targets = [json.loads(line) for line in records.read_text().splitlines()] if records.exists() else []
    errors = [f"cell {c.number} ({c.cell_id}): {c.error}" for c in cells if c.error]
    return {"notebook": name, "targets": targets, "errors": errors, "seconds": time.monotonic() - start}


def measure(notebooks=None, scheduler=None, workers=1) -> list:
    """Runs the notebooks (default: every source notebook) and returns run_notebook's result of each, in order."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    from hw.grid import dask_client

    paths = [p for p in source_notebooks() if not notebooks or p.name in notebooks or p.stem in notebooks]
    results = {}
    with dask_client(scheduler, workers) as client:
        futures = {client.submit(run_notebook, p.name, p.read_text(), pure=False): p.name for p in paths}
        for future in tqdm(as_completed(futures), total=len(futures), desc="notebooks", unit="notebook"):
            try:
                results[futures[future]] = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker; the other notebooks still count
                results[futures[future]] = {"notebook": futures[future], "targets": [], "seconds": 0.0,
                                            "errors": [f"the task failed: {type(exc).__name__}: {exc}"]}  # fmt: skip
    return [results[p.name] for p in paths]


def table(results) -> tuple[str, bool]:
    """A Markdown table of every target (and every notebook that failed), and whether all targets were met."""
    rows = ["| notebook | target | reached | met | notebook's time |", "|---|---|---|---|---|"]
    all_met = True
    for result in results:
        minutes = f"{result['seconds'] / 60:.0f} min"
        for t in result["targets"]:
            met = t["reached"] >= t["target"]
            all_met &= met
            rows.append(f"| {result['notebook']} | {t['what']}: at least {t['target']:g}{t['unit']} | "
                        f"{t['reached']:.1f}{t['unit']} | {'yes' if met else '**no**'} | {minutes} |")  # fmt: skip
        for error in result["errors"]:
            all_met = False
            rows.append(f"| {result['notebook']} | (did not finish) | {error} | **no** | {minutes} |")
    return "\n".join(rows), all_met

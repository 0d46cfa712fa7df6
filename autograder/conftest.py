"""
Hidden-suite plumbing: one sandboxed worker per submission, points per test,
and a results file with one readable line per failed test.

Run by ``course grade`` as
``pytest -c autograder/pytest.ini autograder --submission DIR --results FILE``.
"""
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from course.sandbox import ProbeError, Worker
from scan import AUTOGRAD, OWN_MODULES, TORCH_LAYERS, TORCH_OPTIMIZERS, scan_source

HERE = Path(__file__).resolve().parent

# `course grade --jobs N` runs N suites side by side; a suite that also used
# every core for its reference training would oversubscribe them (measured:
# two suites on 2 cores took 40 s each with 2 threads, 12 s with 1).
torch.set_num_threads(1)
STUDENT_MODULES = ("hw.layers", "hw.optimizers", "hw.training", "hw.answers", "hw.cnn")


def pytest_addoption(parser):
    group = parser.getgroup("grading")
    group.addoption("--submission", help="folder that holds the submission's hw/ package")
    group.addoption("--results", help="where to write the results as JSON")
    group.addoption("--probe-timeout", type=float, default=10.0, help="seconds each probe may take")
    group.addoption("--worker-log", help="file that collects what the submission prints")
    group.addoption("--answers", default="", help="comma-separated answer functions of hw/answers.py to read")


def pytest_configure(config):
    config._grading_results = {}  # test name -> result, in collection order
    config._written_answers = {}


def describe(item):
    marker = item.get_closest_marker("points")
    doc = (item.function.__doc__ or "").strip().splitlines()
    return {
        "name": item.name,
        "part": part_of(item),
        "description": doc[0] if doc else item.name,
        "points": 0,
        "max_points": marker.args[0],
        "passed": False,
        "message": "",
        "harness_error": False,
        "not_run": True,
    }


def pytest_collection_finish(session):
    """Every graded test is listed, so a run that stops early still accounts for all points."""
    for item in session.items:
        if item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid} has no points marker")
        session.config._grading_results[item.name] = describe(item)
    save_results(session.config)


def save_results(config):
    """Rewritten after every test, so a run killed half-way still leaves what it graded."""
    path = config.getoption("--results")
    if path:
        tests = list(config._grading_results.values())
        Path(path).write_text(json.dumps({"tests": tests, "answers": config._written_answers}, indent=2))


@pytest.fixture(scope="session")
def worker(request):
    submission = request.config.getoption("--submission")
    if not submission:
        raise pytest.UsageError("the hidden suite needs --submission DIR")
    with Worker(
        submission,
        HERE / "probes.py",
        modules=STUDENT_MODULES,
        timeout=request.config.getoption("--probe-timeout"),
        log_path=request.config.getoption("--worker-log"),
    ) as w:
        yield w
        read_written_answers(request.config, w)


@pytest.fixture(scope="session")
def layers_scan(request):
    """Where the submission's hw/layers.py uses autograd, read as text by the harness."""
    return scan_source(Path(request.config.getoption("--submission")) / "hw" / "layers.py", AUTOGRAD)


@pytest.fixture(scope="session")
def layers_builtins_scan(request):
    """Where the submission's hw/layers.py calls PyTorch's own convolution, pooling or normalization."""
    return scan_source(Path(request.config.getoption("--submission")) / "hw" / "layers.py", TORCH_LAYERS)


@pytest.fixture(scope="session")
def cnn_scan(request):
    """Where the submission's hw/cnn.py uses nn.Linear / nn.Conv2d / F.linear / F.conv2d."""
    return scan_source(Path(request.config.getoption("--submission")) / "hw" / "cnn.py", OWN_MODULES)


@pytest.fixture(scope="session")
def optimizers_scan(request):
    """Where the submission's hw/optimizers.py uses torch's own optimizers."""
    return scan_source(Path(request.config.getoption("--submission")) / "hw" / "optimizers.py", TORCH_OPTIMIZERS)


def read_written_answers(config, worker):
    """The text of the written answers, for nbgrader's formgrader; read by the same worker."""
    names = [n for n in config.getoption("--answers").split(",") if n]
    if not names:
        return
    try:
        config._written_answers = worker.call("written_answers", names=names)
    except ProbeError as exc:
        config._written_answers = {name: f"*The answers could not be read: {exc}*" for name in names}
    save_results(config)


@pytest.fixture(autouse=True)
def seeded():
    """Harness-side randomness (inputs of the probes) is the same in every run."""
    random.seed(1234)
    np.random.seed(1234)
    torch.manual_seed(1234)


def part_of(item):
    """'part1' for tests in test_part1_*.py."""
    return Path(str(item.fspath)).stem.split("_")[1]


def failure_message(excinfo):
    """The student-facing reason of a failure, and whether it is the grader's own fault."""
    exc = excinfo.value
    if isinstance(exc, ProbeError):
        return str(exc), False
    if isinstance(exc, AssertionError):
        return str(exc).strip() or "the result differs from the expected one", False
    return f"internal grader error ({type(exc).__name__}: {exc}); please tell the course staff", True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        result = item.config._grading_results[item.name]
        message, harness_error = ("", False) if report.passed else failure_message(call.excinfo)
        result.update(
            points=result["max_points"] if report.passed else 0,
            passed=report.passed,
            message=message,
            harness_error=harness_error,
            not_run=False,
        )
        save_results(item.config)


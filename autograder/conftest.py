"""
Hidden-suite plumbing: one sandboxed worker per submission, points per test,
and a results file with one readable line per failed test.

Run by ``course grade`` as
``pytest -c autograder/pytest.ini autograder --submission DIR --results FILE``.
"""
import hashlib
import json
import random
import re
import shutil
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from checks import check_from_scratch
from course import ASSIGNMENT, REPO_ROOT, STUDENT_MODULES
from course.grading.isolation import choose_level
from course.records.folder import bounded as bounded_text
from course.records.folder import write_atomically
from course.records.review import withheld_message
from course.grading.sandbox import Budget, MachineBusy, ProbeError, Worker, return_freed_memory
from course.grading.secret import course_secret
from course.grading.secret import held_out_seed as derive_seed
from hw import policy
from hw.data import Shapes

HERE = Path(__file__).resolve().parent
PROVIDED = REPO_ROOT / "release" / ASSIGNMENT / "hw"  # the homework's own code, as students received it

# `course grade --jobs N` runs N suites side by side; a suite that also used
# every core for its reference training would oversubscribe them (measured:
# two suites on 2 cores took 40 s each with 2 threads, 12 s with 1).
torch.set_num_threads(1)
MAX_ANSWER_CHARS = 20_000  # per written answer, as shown in formgrader


def pytest_addoption(parser):
    group = parser.getgroup("grading")
    group.addoption("--submission", help="folder that holds the submission's hw/ package")
    group.addoption("--results", help="where to write the results as JSON")
    group.addoption("--probe-timeout", type=float, default=Budget.probe_seconds, help="seconds each probe may take")
    group.addoption("--time-budget", type=float, default=Budget.seconds, help="seconds the worker may run in all")
    group.addoption("--memory-mib", type=int, default=Budget.memory_bytes >> 20, help="memory of all its processes")
    group.addoption("--disk-mib", type=int, default=Budget.disk_bytes >> 20, help="disk it may write")
    group.addoption("--processes", type=int, default=Budget.processes, help="processes and threads at once")
    group.addoption("--isolation", default="auto", help="auto, bubblewrap, uid or process (course.grading.isolation)")
    group.addoption("--slot-uid", type=int, help="with root, the uid the worker runs as (chosen by course grade)")
    group.addoption("--scratch", help="folder for the worker's scratch files (removed by course grade)")
    group.addoption("--worker-log", help="file that collects what the submission prints")
    group.addoption("--answers", default="", help="comma-separated answer functions of hw/answers.py to read")
    group.addoption("--reference-cache", help="folder that keeps the harness's reference trainings across submissions")


def pytest_configure(config):
    config._grading_results = {}  # test name -> result, in collection order
    config._written_answers = {}
    config._flags = []  # findings for staff review: dicts with kind and message
    config._policy = None  # hw.policy's Report on the submission's modules
    config._worker = None
    config._isolation = None


def budget_from(config):
    return Budget(
        seconds=config.getoption("--time-budget"),
        probe_seconds=config.getoption("--probe-timeout"),
        memory_bytes=config.getoption("--memory-mib") << 20,
        disk_bytes=config.getoption("--disk-mib") << 20,
        processes=config.getoption("--processes"),
    )


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
        "withheld": False,
        "not_run": True,
    }


def pytest_collection_finish(session):
    """Every graded test is listed, so a run that stops early still accounts for all points."""
    seen = {}
    for item in session.items:
        if item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid} has no points marker")
        if item.name in seen:  # results are keyed by name: a second test of that name would replace the first
            raise pytest.UsageError(f"{item.nodeid} has the same name as {seen[item.name]}; rename one")
        seen[item.name] = item.nodeid
        session.config._grading_results[item.name] = describe(item)
    submission = session.config.getoption("--submission")
    if submission:
        report = policy.check_folder(Path(submission))
        session.config._policy = report
        session.config._flags = [{"kind": "code", "message": finding.describe()} for finding in report.flags]
    save_results(session.config)


def flags_of(config):
    """
    The findings for staff review, each with the digest of the code it was
    found in: a decision on them (course review) holds for that code only, not
    for other code that happens to be flagged with the same words.
    """
    worker_flags = config._worker.flags if config._worker else []
    code = digest_of_modules(config._policy.files.modules if config._policy else {})[:16]
    return [dict(flag, code=code) for flag in config._flags + [{"kind": k, "message": m} for k, m in worker_flags]]


def digest_of_modules(modules) -> str:
    """A digest of the student modules graded ({"layers.py": its bytes})."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        digest.update(name.encode() + b"\0" + hashlib.sha256(modules[name]).digest())
    return digest.hexdigest()


def withheld(test, flags):
    """
    A passed test's result while the submission is flagged: no points until
    the staff clear the flag (course review). Every module of a submission is
    imported into the one worker, so code in any file can reach every probe:
    a flag holds back all the points, not only those of the flagged file.
    """
    if not flags or not test["passed"]:
        return test
    return dict(test, passed=False, points=0, withheld=True, message=withheld_message(flags))


def save_results(config):
    """Rewritten after every test, so a run killed half-way still leaves what it graded."""
    path = config.getoption("--results")
    if path:
        flags = flags_of(config)
        worker = config._worker
        results = {
            "tests": [withheld(t, flags) for t in config._grading_results.values()],
            "answers": config._written_answers,
            "flags": flags,
            "left_out": config._policy.files.left_out if config._policy else [],
            "isolation": config._isolation,
            "worker_seconds": round(worker.seconds_used, 3) if worker else 0.0,
        }
        Path(path).write_text(json.dumps(results, indent=2))


def describe_call(probe, kwargs):
    """What a probe runs, named as the student wrote it: "timed out after 30 s while running your Conv2d ..."."""
    cls = (kwargs.get("spec") or {}).get("cls") or kwargs.get("cls")
    described = {
        "layer_pass": f"running your {cls} (forward and backward)",
        "conv_output_shape": "computing your Conv2d's output shape",
        "module_pass": f"running your {cls}",
        "linear_attributes": "building your Linear layer",
        "sequential_pass": "running your Sequential",
        "mlp_structure": "building your MLP",
        "mlp_loss_pass": "running your MLP and its loss",
        "optimizer_steps": f"running your {cls}.step",
        "optimizer_zero_grad": f"running your {cls}.zero_grad",
        "trainer_epoch": "running one epoch of your trainer",
        "trainer_fit": "running your trainer's fit",
        "hyperparameters": f"calling {kwargs.get('name')}() in hw/answers.py",
        "written_answers": "reading your written answers in hw/answers.py",
        "architecture_pass": f"building and running your {cls}",
        "construction_error": f"building your {cls}",
        "classifier_pass": f"running your {cls}",
        "roc_threshold": "running your select_roc_thresh",
        "yourcnn_train": "training your YourCNN",
        "run_exp_command": "running python -m hw.experiments run-exp",
        "smoothness_pass": "running your effective_smoothness",
        "noisy_labels": "running your corrupt_labels",
        "confusion_pass": "running your confusion_matrix",
        "text_cnn_pass": "building and running your TextCNN",
        "attribution_pass": f"running your {kwargs.get('function', 'map')}",
        "feature_maps_pass": "running your feature_maps",
        "unknown_layer_error": "running your feature_maps with a layer name the model does not have",
        "tensor_function": f"running your {kwargs.get('function', 'function')}",
        "box_function": f"running your {kwargs.get('function', 'function')}",
    }
    return described.get(probe, f"running {probe}")


@pytest.fixture(scope="session")
def worker(request):
    submission = request.config.getoption("--submission")
    if not submission:
        raise pytest.UsageError("the hidden suite needs --submission DIR")
    config = request.config
    config._isolation = choose_level(config.getoption("--isolation"))[0]
    staged = Path(tempfile.mkdtemp(prefix="hw-staged-", dir=config.getoption("--scratch")))
    request.addfinalizer(lambda: shutil.rmtree(staged, ignore_errors=True))
    files = config._policy.files
    stage(files, staged)
    with Worker(
        staged,
        [HERE / "probes.py", *sorted(HERE.glob("probes_part*.py"))],
        modules=STUDENT_MODULES,
        unavailable={f"hw.{Path(name).stem}": why for name, why in files.unreadable.items()},
        budget=budget_from(config),
        uid=config.getoption("--slot-uid"),
        level=config._isolation,
        scratch_parent=config.getoption("--scratch"),
        log_path=config.getoption("--worker-log"),
        describe=describe_call,
    ) as w:
        config._worker = w
        # First, so that a submission that later runs out of its time budget keeps its written answers.
        read_written_answers(config, w)
        yield w


def stage(files: policy.Files, folder: Path):
    """
    The closed world the worker runs: ``folder``/hw holds the submission's
    student modules, as read by the policy, and the course's own copies of
    every other module of the release. Nothing else of the submission.
    """
    package = folder / "hw"
    package.mkdir()
    for name in policy.PROVIDED_FILES:
        shutil.copyfile(PROVIDED / name, package / name)
    for name, source in files.modules.items():
        (package / name).write_bytes(source)


@pytest.fixture(scope="session")
def from_scratch(request):
    """
    ``from_scratch(rule, *classes)``: fails with the first place where code
    that ``classes`` run (theirs, their base classes', the module's top
    level) breaks the part's from-scratch rule (hw.policy.FROM_SCRATCH).
    """
    report = request.config._policy

    def check(rule, *classes):
        check_from_scratch(report, rule, *classes)

    return check


def read_written_answers(config, worker):
    """The text of the written answers, for nbgrader's formgrader; read by the same worker."""
    names = [n for n in config.getoption("--answers").split(",") if n]
    if not names:
        return
    try:
        answers = worker.call("written_answers", names=names)
        if not isinstance(answers, dict):
            raise ProbeError(f"the answers came back as {type(answers).__name__}")
        config._written_answers = {name: CONTROL_CHARACTERS.sub("?", str(answers.get(name, ""))[:MAX_ANSWER_CHARS])
                                   for name in names}  # fmt: skip
    except ProbeError as exc:
        config._written_answers = {name: f"*The answers could not be read: {exc}*" for name in names}
    save_results(config)


@pytest.fixture(scope="session")
def reference_training(request):
    """
    ``reference_training(experiment, settings, code_files, train)``: what
    ``train()`` (a trusted training in the harness, which returns plain JSON
    data) gives for ``settings``, kept in --reference-cache under a key of the
    experiment, the settings, the code that influences the training and
    torch's version. A class hands in the same few hyper-parameters again and
    again: each is trained once per course, not once per student.
    """
    folder = request.config.getoption("--reference-cache")

    def cached(experiment, settings, code_files, train):
        if not folder:
            return train()
        sha = hashlib.sha256(json.dumps([experiment, settings, torch.__version__], sort_keys=True).encode())
        for path in code_files:
            sha.update(Path(path).read_bytes())
        path = Path(folder) / f"{experiment}-{sha.hexdigest()[:32]}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
        result = train()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(result))  # suites running side by side may write the same key: same text
        return result

    return cached


@pytest.fixture(scope="session")
def held_out_seed():
    """
    ``held_out_seed(purpose)``: the seed of a kind of held-out value (test
    images no file of the repository can reproduce), derived from the course's
    secret, which the grading run hands to the suite (course.grading.secret).
    """
    secret = course_secret()
    return lambda purpose: derive_seed(secret, purpose)


@pytest.fixture(scope="session")
def held_out_for_code(held_out_seed, code_digest):
    """
    ``held_out_for_code(purpose)``: a held-out seed that also depends on the
    graded code: held-out images one submission saw (and could report in a
    message) are not those the next, other code is graded on; the same code
    is graded on the same images.
    """
    return lambda purpose: held_out_seed(f"{purpose}/{code_digest}")


@pytest.fixture(scope="session")
def notebook_training_images():
    """
    ``notebook_training_images(n)``: the first ``n`` of the notebooks' Shapes
    training images (N, 3, 32, 32) and their labels (N,), as copies: the
    other images are not kept while a test waits for the worker (the harness
    and the worker share the container's memory).
    """

    def first(n):
        train = Shapes(train=True)
        return train.images[:n].clone(), train.targets[:n].clone()

    return first


@pytest.fixture(scope="session")
def code_digest(request):
    """A digest of the student modules graded: the same code draws the same inputs, other code other inputs."""
    report = getattr(request.config, "_policy", None)
    return digest_of_modules(report.files.modules if report is not None else {})


@pytest.fixture(autouse=True)
def seeded(request, held_out_seed, code_digest):
    """
    Harness-side randomness (the inputs of the probes) is drawn from the
    course's secret and the submission's code: a copy of this suite does not
    tell which inputs a test sends, and the expected values that one
    submission's feedback shows are not those of the next (a submission that
    wrote them into its code would change the inputs by doing so). The same
    code is graded on the same inputs, so a regrade gives the same grade.
    """
    seed = held_out_seed(f"inputs/{request.node.name}/{code_digest}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pytest_runtest_teardown(item):
    return_freed_memory()  # what the test freed: the worker's next probe may need it


def part_of(item):
    """'part1' for tests in test_part1_*.py."""
    return Path(str(item.fspath)).stem.split("_")[1]


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # but tab and newline: terminal escapes and the like


def bounded(message: str) -> str:
    """A message as results.json keeps it (course.records.review.bounded: 2 KB), without control characters."""
    return bounded_text(CONTROL_CHARACTERS.sub("?", message))


def failure_message(excinfo):
    """The student-facing reason of a failure (bounded), and whether it is the grader's own fault."""
    exc = excinfo.value
    if isinstance(exc, ProbeError):
        return bounded(str(exc)), False
    if isinstance(exc, MachineBusy):
        return bounded(f"not run: {exc}. This is the grader's problem, not yours: the check runs again when the "
                       "course grades again"), True  # fmt: skip
    if isinstance(exc, AssertionError):
        return bounded(str(exc).strip() or "the result differs from the expected one"), False
    return bounded(f"internal grader error ({type(exc).__name__}: {exc}); please tell the course staff"), True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        result = item.config._grading_results[item.name]
        message, harness_error = ("", False) if report.passed else failure_message(call.excinfo)
        if harness_error:
            # pytest.ini's --tb=line keeps a failing submission's log short (and fast: formatting 130
            # tracebacks took three seconds); the grader's own errors keep their whole traceback there.
            report.longrepr = "".join(traceback.format_exception(call.excinfo.value))
        result.update(
            points=result["max_points"] if report.passed else 0,
            passed=report.passed,
            message=message,
            harness_error=harness_error,
            not_run=False,
        )
        save_results(item.config)


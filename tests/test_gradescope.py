"""
`course gradescope`: the autograder zip, unpacked into a fake /autograder and run as Gradescope runs it.

The zip is built once, unpacked into <tmp>/autograder/source, setup.sh's Python
part runs with this interpreter (it must find every pinned requirement already
installed), and run_autograder grades four submissions, each uploaded in another
of the layouts students use: the solution, the release and two bug examples.
Every results.json is checked against Gradescope's published format
(autograder_samples docs/specs.md), and so are those of an empty upload, a
grader that fails and a Python that cannot start.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.grading import gradescope
from course.grading import isolation
from course.authoring.examples import build_example, load_examples
from course.grading.secret import course_secret
from hw import policy

# Gradescope's results.json (docs/specs.md): every field is optional, but `score` or `tests` must be there.
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
TEST_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": FORMAT,
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {}, "order": {"enum": ["asc", "desc"]}},
                "required": ["name", "value"],
            },
        },
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
    "additionalProperties": False,
}
EXAMPLES = {e.name: e for e in load_examples()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the zip, a fake Gradescope root holding it in source/ and run_autograder, setup's output)."""
    archive = gradescope.build_zip(tmp_path_factory.mktemp("zip") / "autograder.zip")
    # Under /tmp with world-traversable folders, so that only run_autograder's own locks keep the sandbox out.
    base = Path(tempfile.mkdtemp(prefix="gradescope-test-"))
    base.chmod(0o755)
    root = base / "autograder"
    gradescope.unpack(archive, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    setup = subprocess.run([sys.executable, "-m", "course.grading.gradescope", "setup"], cwd=root / "source",
                           capture_output=True, text=True, env=_env(root))  # fmt: skip
    yield archive, root, setup
    shutil.rmtree(base, ignore_errors=True)


def _env(root: Path, **extra):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "AUTOGRADER_ROOT": str(root),
            "AUTOGRADER_PYTHON": sys.executable, **extra}  # fmt: skip


def run_autograder(root: Path, submission=None, **env) -> tuple[dict, str]:
    """Puts ``submission`` (a function filling the folder) into <root>/submission and runs <root>/run_autograder."""
    folder = root / "submission"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if submission:
        submission(folder)
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True,
                          env=_env(root, **env), timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (root / "results" / "results.json").read_text()
    results = json.loads(text)  # one JSON document and nothing else
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results, proc.stdout


def catalog(root: Path):
    return json.loads((root / "source" / gradescope.CONFIG).read_text())["catalog"]


def example_folder(name: str, tmp: Path) -> Path:
    return build_example(EXAMPLES[name], tmp / name / ASSIGNMENT)


def expected_failures(name: str, tests) -> set:
    example = EXAMPLES[name]
    if example.expect_failed == "all":
        return {t["name"] for t in tests}
    return set(example.expect_failed) | {t["name"] for t in tests if t["part"] in example.expect_failed_parts}


def check_graded(root: Path, results: dict, failed_names: set):
    """Every hidden test once, in order, numbered part.index; the failed ones say why; the score adds up."""
    tests = catalog(root)
    assert len(results["tests"]) == len(tests)
    failed = {t["name"] for t, r in zip(tests, results["tests"]) if r["status"] == "failed"}
    assert failed == failed_names
    assert results["score"] == sum(r["score"] for r in results["tests"])
    assert results["score"] == sum(t["max_points"] for t in tests if t["name"] not in failed_names)
    index = {}
    for t, r in zip(tests, results["tests"]):
        index[t["part"]] = index.get(t["part"], 0) + 1
        assert r["number"] == f"{t['part'].removeprefix('part')}.{index[t['part']]}"
        assert r["name"].startswith(t["description"])
        assert r["max_score"] == t["max_points"] and r["visibility"] == "visible"
        assert (r["score"] == r["max_score"]) == (r["status"] == "passed"), r
        assert (r["output"] == "passed") if r["status"] == "passed" else (r["output"] not in ("", "passed")), r
    assert results["extra_data"]["harness_errors"] == []
    assert results["stdout_visibility"] == "hidden", "the staff data the autograder prints is not the students'"
    assert "graded separately by the course staff" in results["output"]


def test_zip_layout_and_no_solution(built):
    archive, root, _ = built
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        data = {name: zf.read(name) for name in names}
    assert names == sorted(names)
    assert {"setup.sh", "run_autograder", "requirements.txt", gradescope.CONFIG} <= set(names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert {n for n in names if n.startswith("autograder/")} >= {"autograder/conftest.py", "autograder/pytest.ini"}
    assets = {f"tests/assets/{p.name}" for p in (REPO_ROOT / "tests" / "assets").glob("*.pt")}
    assert {n for n in names if n.startswith("tests/assets/")} == assets
    # Nothing of the solution: hw/ holds the course's provided modules only, as the release has them.
    release = REPO_ROOT / "release" / ASSIGNMENT / "hw"
    assert sorted(n for n in names if n.startswith("hw/")) == ["hw/__init__.py", "hw/data.py", "hw/interpret.py", "hw/policy.py"]
    # The held-out values' seeds come from the course's secret, which only the zip carries (course.grading.secret).
    assert data[".course-secret"].decode().strip() == course_secret()
    assert ((root / "source" / ".course-secret").stat().st_mode & 0o777) == 0o600
    for name in names:
        if name.startswith(("hw/", f"release/{ASSIGNMENT}/hw/")):
            assert data[name] == (release / Path(name).name).read_bytes(), name
        assert b"### BEGIN SOLUTION" not in data[name], name
    solutions = [p.read_bytes() for p in (REPO_ROOT / "hw").glob("*.py") if p.read_bytes() != (release / p.name).read_bytes()]
    assert solutions and not any(s in data.values() for s in solutions)
    # Pinned to this environment's versions (build labels such as +cu130 aside: Gradescope gets the CPU builds).
    from importlib import metadata

    pins = dict(line.split("==") for line in data["requirements.txt"].decode().splitlines() if "==" in line)
    for name in ("torch", "torchvision", "numpy", "pytest", "scikit-learn", "matplotlib", "Jinja2", "tqdm"):
        assert pins[name].split("+")[0] == metadata.version(name).split("+")[0], name
    assert pins["torch"].endswith("+cpu") and not any(n.startswith(("nvidia", "cuda", "triton")) for n in pins)
    assert not any(n in pins for n in ("nbgrader", "jupyter", "notebook", "nbformat"))


def test_zip_is_deterministic(built, tmp_path, monkeypatch):
    archive, root, _ = built
    config = json.loads((root / "source" / gradescope.CONFIG).read_text())
    monkeypatch.setattr(gradescope, "gradescope_config", lambda *args: config)  # the suite's catalog, collected once
    again = gradescope.build_zip(tmp_path / "again.zip")
    assert again.read_bytes() == archive.read_bytes()


def test_setup_finds_everything_installed(built):
    _, root, setup = built
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "nothing to install" in setup.stdout
    assert f"collects its {len(catalog(root))} tests" in setup.stdout
    assert json.loads((root / "source" / gradescope.SETUP_RECORD).read_text())["worker_address_space"] > 100 << 20
    # setup.sh is a bash script ending with the Python part, in the venv run_autograder uses.
    text = (root / "source" / "setup.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash") and "-m course.grading.gradescope setup" in text.splitlines()[-1]
    assert subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")]).returncode == 0
    assert subprocess.run(["bash", "-n", str(root / "run_autograder")]).returncode == 0


def test_solution_scores_the_maximum(built, tmp_path):
    """Uploaded as Gradescope's file upload keeps it: hw/ and the notebooks at the top of the submission."""
    _, root, _ = built
    source = example_folder("solution", tmp_path)
    results, stdout = run_autograder(root, lambda folder: shutil.copytree(source, folder, dirs_exist_ok=True))
    check_graded(root, results, set())
    assert results["score"] == sum(t["max_points"] for t in catalog(root)) > 0
    extra = results["extra_data"]
    assert extra["grader"] == str(root / "source" / "course" / "grading" / "gradescope.py")  # the zip's harness, not the repository's
    assert extra["isolation"] == isolation.choose_level()[0]
    assert results["execution_time"] < gradescope.GRADESCOPE_TIMEOUT
    assert "Staff data" in stdout and "Wrote" in stdout


def test_release_scores_zero(built, tmp_path):
    """Uploaded as one .zip of the hw2 folder."""
    _, root, _ = built
    source = example_folder("release", tmp_path)

    def upload(folder):
        with zipfile.ZipFile(folder / f"{ASSIGNMENT}.zip", "w") as zf:
            for path in sorted(source.rglob("*")):
                zf.write(path, Path(ASSIGNMENT) / path.relative_to(source))

    results, _ = run_autograder(root, upload, AUTOGRADER_ISOLATION=_gradescope_level())
    check_graded(root, results, {t["name"] for t in catalog(root)})
    assert results["score"] == 0
    assert "not implemented yet" in results["tests"][0]["output"]


def _gradescope_level():
    """The level Gradescope's Docker containers usually get (root, no namespaces for bwrap), where this machine has it."""
    return isolation.UID if isolation.running_as_root() else "auto"


@pytest.mark.parametrize("name", ["momentum_sign", "syntax_error"])
def test_bug_examples_lose_exactly_their_points(built, tmp_path, name):
    """momentum_sign: the hw/*.py files dragged onto Gradescope without their folder; syntax_error: hw2/hw/."""
    _, root, _ = built
    source = example_folder(name, tmp_path)

    def upload(folder):
        if name == "momentum_sign":
            for path in (source / "hw").glob("*.py"):
                shutil.copyfile(path, folder / path.name)
        else:
            shutil.copytree(source, folder / ASSIGNMENT)

    level = _gradescope_level()
    results, _ = run_autograder(root, upload, AUTOGRADER_ISOLATION=level)
    check_graded(root, results, expected_failures(name, catalog(root)))
    assert results["extra_data"]["isolation"] == (level if level != "auto" else isolation.choose_level()[0])
    assert "What to fix" in results["output"]
    if name == "syntax_error":
        assert all("SyntaxError" in r["output"] for r in results["tests"] if r["number"].startswith("1."))


def test_the_closed_world_holds_on_gradescope(built, tmp_path):
    """
    Gradescope's container runs the same closed world: a helper module is
    left out and listed (and importing it is flagged), and a loose upload's
    link to a hidden test is never followed, so its text reaches no output.
    """
    _, root, _ = built
    solution = example_folder("solution", tmp_path)
    conv_line = "out = out.view(-1, n, hq, wq)[:, :, :h_out, :w_out].permute(1, 0, 2, 3).contiguous()"

    def with_helper_module(folder):
        shutil.copytree(solution, folder / ASSIGNMENT)
        (folder / ASSIGNMENT / "hw" / "_fast.py").write_text("import torch.nn.functional as F\nconv = F.conv2d\n")
        layers = folder / ASSIGNMENT / "hw" / "layers.py"
        layers.write_text(layers.read_text().replace(
            conv_line, "from hw._fast import conv\n        out = conv(x, self.w, self.b, self.stride, self.padding)"))

    results, stdout = run_autograder(root, with_helper_module)
    assert results["score"] == 0, "flagged: every point withheld until the staff review it"
    assert "Not graded" in results["output"] and "hw/_fast.py" in results["output"]
    assert "hw._fast" in results["output"], "the flag says which import reached outside the homework"

    hidden = root / "source" / "autograder" / "test_part4_yourcnn.py"

    def loose_files_and_a_link(folder):
        for name in policy.STUDENT_FILES:
            shutil.copyfile(solution / "hw" / name, folder / name)
        (folder / "layers.py").unlink()
        (folder / "layers.py").symlink_to(hidden)

    results, stdout = run_autograder(root, loose_files_and_a_link)
    shown = json.dumps(results) + stdout
    assert "ACCURACY_STEPS" not in shown and "held_out_seed" not in shown, "no text of a hidden test is shown"
    assert any("hw/layers.py is missing" in t.get("output", "") for t in results["tests"])


def test_empty_upload_says_what_is_missing(built):
    _, root, _ = built
    results, _ = run_autograder(root, lambda folder: (folder / "notes.txt").write_text("hello"))
    assert results["score"] == 0 and len(results["tests"]) == len(catalog(root))
    assert "could not be graded: the upload holds no homework" in results["output"]
    assert "notes.txt" in results["output"]
    assert all(r["status"] == "failed" and r["output"].startswith("not graded: ") for r in results["tests"])
    if isolation.running_as_root() and shutil.which("setpriv"):
        # The lock run_autograder puts first: another uid (the sandbox's, or any) reads nothing of source/ or results/.
        for folder in ("source", "results"):
            assert stat.S_IMODE((root / folder).stat().st_mode) & 0o077 == 0
        assert all(stat.S_IMODE(folder.stat().st_mode) & 0o001 for folder in (root, *root.parents))  # only the lock
        uid = str(isolation.slot_uid(0))
        for path in (root / "source" / "autograder" / "conftest.py", root / "source" / "tests" / "assets",
                     root / "results" / "results.json"):  # fmt: skip
            proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat", str(path)],
                                  capture_output=True, text=True)  # fmt: skip
            assert proc.returncode != 0 and "Permission denied" in proc.stderr, (path, proc.stdout[:200])


def test_grader_failure_still_writes_results(built):
    """A broken gradescope.json: the grader's own error, told to the staff in stdout and to the student as not theirs."""
    _, root, _ = built
    config = root / "source" / gradescope.CONFIG
    saved = config.read_bytes()
    try:
        config.write_text("{not json")
        results, stdout = run_autograder(root, lambda folder: (folder / "hw").mkdir())
    finally:
        config.write_bytes(saved)
    assert results["score"] == 0 and results["tests"] == []
    assert "the autograder itself failed" in results["output"]
    assert "JSONDecodeError" in results["extra_data"]["grader_error"] and "Traceback" in stdout


def test_python_that_cannot_start_still_writes_results(built):
    _, root, _ = built
    results, stdout = run_autograder(root, AUTOGRADER_PYTHON=str(root / "no-such-python"))
    assert results["score"] == 0 and results["extra_data"]["fallback"] is True
    assert results["extra_data"]["exit_status"] == 127
    assert "wrote no results.json" in stdout


def test_flagged_submission_shows_withheld_points():
    """The per-test output and the summary of a flagged submission say its points are withheld for review."""
    from course.records.review import apply_review, summary_of, withheld_message

    flags = [{"kind": "code", "message": "hw/layers.py:20 uses an assignment to torch.allclose"}]
    tests = [
        {"name": "test_a", "part": "part1", "description": "A", "points": 0, "max_points": 2, "passed": False,
         "message": withheld_message(flags), "withheld": True},
        {"name": "test_b[x]", "part": "part1", "description": "B", "points": 0, "max_points": 1, "passed": False,
         "message": "B: expected 1, got 2"},
    ]  # fmt: skip
    tests = apply_review(tests, flags, None)
    summary = summary_of("submission", tests, ["part1"], flags, None, problem=None, answers={})
    converted = gradescope.gradescope_tests(summary, "after_published")
    assert [t["output"] for t in converted] == [withheld_message(flags), "B: expected 1, got 2"]
    assert [t["name"] for t in converted] == ["A", "B [x]"] and converted[0]["visibility"] == "after_published"
    jsonschema.validate({"score": 0, "tests": converted}, RESULTS_SCHEMA)
    output = gradescope.summary_output(summary, {"part1": "Part 1"}, [])
    assert "withheld until they have looked at it" in output and "torch.allclose" in output
    assert "Part 1: 0 / 3" in output


def test_build_refuses_unknown_visibility():
    with pytest.raises(ValueError, match="visibility"):
        gradescope.gradescope_config(visibility="students")


def test_results_json_is_replaced_in_one_step(tmp_path):
    path = tmp_path / "results" / "results.json"
    gradescope.write_results(path, {"score": 1, "tests": []})
    gradescope.write_results(path, {"score": 2, "tests": []})
    assert json.loads(path.read_text())["score"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
    with pytest.raises(ValueError):
        gradescope.write_results(path, {"score": float("nan")})
    assert json.loads(path.read_text())["score"] == 2

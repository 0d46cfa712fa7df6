"""
Work on a Dask cluster: grading (`course grade --scheduler`) gives every
student the grade local grading gives, and Part 5's experiment grids
(`python -m hw.grid --scheduler`) bring every result back.
"""
import os
import signal
import threading
import time

import dask
import pytest
from distributed import Client, LocalCluster

from course import ASSIGNMENT
from course.grading.cluster import ClusterError, check_workers, worker_problem
from course.grading.run import grade
from course.grading.suite import code_fingerprint, grading_settings
from course.reports.nbgrader import scratch_course
from course.grading.isolation import choose_level
from hw import experiments, grid
from hw.grid import GRIDS, Grid, grid_configs, is_finished, result_path, run_grids


@pytest.fixture(scope="module")
def local_cluster():
    # Non-daemonic worker processes may fork their suites from the grader's preloaded server (course.grading.suite_process),
    # as local grading does (the README's worker set-up does the same).
    with dask.config.set({"distributed.worker.daemon": False}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            yield cluster


def comparable(outcome):
    """Everything of a grade that must not depend on where it was graded, by key."""
    grade = {"problem": outcome.problem, "flags": outcome.flags, "isolation": outcome.isolation,
             "test order": [t["name"] for t in outcome.tests]}  # fmt: skip
    return grade | {t["name"]: (t["passed"], t["points"], t["message"]) for t in outcome.tests}


def kill_a_worker_once_grading_started(client, out, done: list):
    """Kills one worker process outright as soon as the first result is recorded: its tasks must be rerun."""
    while not list(out.glob("*/results.json")):
        time.sleep(0.2)
    pid = next(iter(client.run(os.getpid).values()))
    os.kill(pid, signal.SIGKILL)
    done.append(pid)


# One example of each way a grade comes about (full marks, nothing implemented, an import error, a flagged cheat, a
# bug in Parts 2, 4 and 5): the cluster moves submissions, suites and results, and every kind of result must come
# back the same. Grading all the examples again would add minutes to CI for nothing that these do not show; the hang
# (endless_forward) is left out too: the suite stops it in the Dask worker with the same code as here, after a
# minute of a core.
ON_THE_CLUSTER = ["solution", "release", "syntax_error", "allclose_cheat", "yourcnn_memorises_test_images",
                  "momentum_sign", "text_cnn_stride_ignored"]  # fmt: skip


def test_cluster_grades_examples_like_this_machine(graded_examples, local_cluster, tmp_path):
    _, local, local_out = graded_examples
    out = tmp_path / "grades"
    out.mkdir()
    killed = []
    with Client(local_cluster) as client:
        killer = threading.Thread(target=kill_a_worker_once_grading_started, args=(client, out, killed), daemon=True)
        killer.start()
        run = grade([local_out.parent / "submitted" / name for name in ON_THE_CLUSTER], out, progress=False,
                    course_root=scratch_course(tmp_path / "course"), scheduler=local_cluster.scheduler_address)  # fmt: skip
        killer.join(timeout=5)
    assert killed, "the test did not kill a worker while grading"
    assert run.problems == []
    remote = {o.student: o for o in run.outcomes}
    assert sorted(remote) == sorted(ON_THE_CLUSTER)
    differences = {}
    for student in ON_THE_CLUSTER:
        outcome = local[student]
        here, there = comparable(outcome), comparable(remote[student])
        differences |= {(student, key): (here.get(key), there.get(key)) for key in here | there if here.get(key) != there.get(key)}
    assert differences == {}, "(student, what): (graded here, graded on the cluster)"
    assert sorted(p.name for p in (out / ".logs").glob("solution.*.log")) == ["solution.pytest.log", "solution.worker.log"]


# Attacks on the closed world of files: the submission's files travel to the worker, which must leave out the same.
CLOSED_WORLD_ATTACKS = ["helper_module_conv", "sourceless_modules", "data_file_run_by_runpy"]


def test_the_closed_world_holds_on_the_cluster(local_cluster, tmp_path):
    """A helper module, a .pyc-only submission and a data file run as code gain nothing on a Dask worker either."""
    from test_redteam import ATTACKS, REDTEAM_TIME_BUDGET, build_attack

    attacks = {a.name: a for a in ATTACKS if a.name in CLOSED_WORLD_ATTACKS}
    for name, attack in attacks.items():
        build_attack(attack, tmp_path / "submitted" / name / ASSIGNMENT)
    settings = grading_settings(time_budget=REDTEAM_TIME_BUDGET, progress=False)
    run = grade([tmp_path / "submitted"], tmp_path / "grades", settings=settings, progress=False,
                course_root=scratch_course(tmp_path / "course"), scheduler=local_cluster.scheduler_address)  # fmt: skip
    assert run.problems == [] and sorted(o.student for o in run.outcomes) == sorted(attacks)
    for outcome in run.outcomes:
        attack = attacks[outcome.student]
        assert outcome.points() <= attack.honest_max, outcome.student
        assert bool(outcome.flags) == attack.flagged, (outcome.student, outcome.flags)
        assert outcome.left_out, f"{outcome.student}: the files outside the homework's modules are listed"


def test_workers_with_other_code_are_refused(local_cluster):
    with Client(local_cluster) as client:
        level, _ = choose_level()
        check_workers(client, code_fingerprint(), level)  # the same repository: accepted
        with pytest.raises(ClusterError, match="course repository differs"):
            check_workers(client, "another commit", level)


def test_a_worker_names_the_isolation_it_lacks(monkeypatch):
    monkeypatch.setattr("course.grading.cluster.isolation.choose_level", lambda level: ("process", "resource limits only"))
    assert "cannot isolate submissions with bubblewrap" in worker_problem(code_fingerprint(), "bubblewrap")


def test_experiment_grid_runs_on_the_cluster(local_cluster, tmp_path, monkeypatch, capsys):
    """Every configuration's result lands here; one that fails loses only itself and is the only one run again."""
    monkeypatch.setenv("HW_FAST", "1")
    # A grid with a configuration that cannot be built (no convolution: CNN raises ValueError) between two good ones.
    monkeypatch.setitem(GRIDS, "exp_test", Grid("test", "cnn", runs=[], fast_runs=[([8], 1), ([], 1), ([8, 16], 1)]))
    out = tmp_path / "results"
    options = ["--epochs", "1", "--batches", "5"]
    with pytest.raises(SystemExit) as exit_status:
        grid.main(["exp1_1", "exp_test", "--scheduler", local_cluster.scheduler_address, "--out-dir", str(out),
                          *options])  # fmt: skip
    assert exit_status.value.code == 1
    configs = [cfg for name in ("exp1_1", "exp_test") for cfg in grid_configs(name, out, epochs=1, batches=5)]
    (broken,) = [cfg for cfg in configs if cfg["filters_per_layer"] == []]
    for cfg in configs:
        assert is_finished(cfg) == (cfg is not broken), cfg
    assert sorted(p.name for p in out.glob("*.json")) == sorted(result_path(cfg).name for cfg in configs if cfg is not broken)
    for path in out.glob("*.json"):
        cfg, fit = experiments.load_experiment(path)
        assert cfg["out_dir"] == str(out) and fit.num_epochs == 1 and len(fit.test_acc) == 1
    log = (out / "exp_test_L1_K.log").read_text()
    assert "ValueError" in log and "at least one convolution" in log
    assert "FAILED exp_test_L1_K.json" in capsys.readouterr().out

    again = run_grids(["exp1_1", "exp_test"], out, scheduler=local_cluster.scheduler_address, epochs=1, batches=5)
    n = len(configs)
    assert f"{n} configuration(s) in exp1_1, exp_test: {n - 1} already finished, 1 to run" in capsys.readouterr().out
    assert len(again["finished"]) == n - 1 and again["failed"] == [str(out / "exp_test_L1_K.log")]

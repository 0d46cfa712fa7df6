"""
Part 5's experiment runner on the solution: run-exp's result file, the grid
command on this machine (an embedded Dask cluster), and the study functions
against references written here.
"""
import json
import os
import subprocess
import sys

import pytest
import torch
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torch import nn

from course import REPO_ROOT
from hw import experiments
from hw.grid import ConsoleLog, grid_configs, pool_every, result_path


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("HW_FAST", "1")


def test_run_exp_writes_a_result_that_loads_back(fast, tmp_path, capsys):
    argv = ["run-exp", "-n", "t", "-K", "8", "16", "-L", "1", "-P", "1", "-H", "10", "-M", "resnet", "--epochs", "2",
            "--batches", "2", "--bs-train", "10", "--seed", "3", "--out-dir", str(tmp_path)]  # fmt: skip
    path = experiments.main(argv)
    assert os.path.basename(path) == "t_L1_K8-16.json" and sorted(os.listdir(tmp_path)) == ["t_L1_K8-16.json"]
    cfg, fit = experiments.load_experiment(path)
    assert cfg["filters_per_layer"] == [8, 16] and cfg["model_type"] == "resnet" and cfg["seed"] == 3
    assert fit.num_epochs == 2 and all(len(getattr(fit, k)) == 2 for k in ("train_loss", "train_acc", "test_loss", "test_acc"))
    # The saved configuration repeats the run exactly.
    again = experiments.run_experiment(**experiments.config_kwargs(dict(cfg, out_dir=str(tmp_path / "again"))))
    assert experiments.load_experiment(again)[1] == fit


def test_run_exp_without_a_seed_saves_the_one_it_drew(fast, tmp_path):
    path = experiments.run_experiment("s", out_dir=tmp_path, seed=None, bs_train=10, batches=1, epochs=1,
                                      filters_per_layer=[4], layers_per_block=1, pool_every=1, hidden_dims=[4])  # fmt: skip
    assert isinstance(experiments.load_experiment(path)[0]["seed"], int)


def test_plot_exp_results_draws_every_matching_run(fast, tmp_path):
    for depth in (1, 2):
        experiments.run_experiment("p", out_dir=tmp_path, seed=0, bs_train=10, batches=1, epochs=1, filters_per_layer=[4],
                                   layers_per_block=depth, pool_every=1, hidden_dims=[4])  # fmt: skip
    fig, axes = experiments.plot_exp_results("p_L*_K4.json", results_dir=tmp_path)
    assert sorted(line.get_label() for line in axes[0].lines) == ["layers_per_block=1", "layers_per_block=2"]
    with pytest.raises(FileNotFoundError, match="run the experiment first"):
        experiments.plot_exp_results("nothing_*.json", results_dir=tmp_path)


@pytest.mark.parametrize("name", ["exp1_1", "exp1_2", "exp1_3", "exp1_4"])
def test_grids_have_the_configurations_of_the_homework(name, monkeypatch):
    monkeypatch.delenv("HW_FAST", raising=False)
    expected = {
        "exp1_1": [([k], depth) for k in (32, 64) for depth in (2, 4, 8, 16)],
        "exp1_2": [([k], depth) for depth in (2, 4, 8) for k in (32, 64, 128, 256)],
        "exp1_3": [([64, 128], depth) for depth in (2, 3, 4)],
        "exp1_4": [([32], depth) for depth in (8, 16, 32)] + [([64, 128, 256], depth) for depth in (2, 4, 8)],
    }[name]
    configs = grid_configs(name)
    assert [(c["filters_per_layer"], c["layers_per_block"]) for c in configs] == expected
    for c in configs:  # at most four poolings: 32x32 images end at least 2x2
        assert len(c["filters_per_layer"]) * c["layers_per_block"] // c["pool_every"] <= 4
    assert {c["model_type"] for c in configs} == {"resnet" if name == "exp1_4" else "cnn"}


def test_pool_every_spreads_four_poolings():
    assert [pool_every([32], depth) for depth in (1, 2, 4, 8, 16)] == [1, 1, 1, 2, 4]
    assert pool_every([64, 128, 256], 8) == 6


def test_console_log_keeps_what_a_terminal_shows():
    log = ConsoleLog()
    log.write("epoch 1\nbar 10%\rbar 50%\rbar 100%\n")
    log.write("done")
    assert log.getvalue() == "epoch 1\nbar 100%\ndone"


def test_grid_command_runs_here_and_then_runs_nothing(tmp_path):
    """`python -m hw.grid exp1_1` in fast mode on an embedded Dask cluster, twice."""
    env = dict(os.environ, HW_FAST="1", PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "hw.grid", "exp1_1", "--epochs", "1", "--batches", "5"]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "results").glob("*.json"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HW_FAST", "1")
        configs = grid_configs("exp1_1", "results")
    assert files == sorted(result_path(cfg).name for cfg in configs), first.stdout
    for name in files:
        saved = json.loads((tmp_path / "results" / name).read_text())
        assert saved["config"]["out_dir"] == "results" and saved["results"]["num_epochs"] == 1
    n = len(configs)
    assert f"{n} configuration(s) in exp1_1: 0 already finished, {n} to run" in first.stdout
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and f"{n} already finished, 0 to run" in second.stdout, second.stdout + second.stderr


# -- the study functions -------------------------------------------------------------------


def test_effective_smoothness_of_a_quadratic_is_its_curvature():
    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([1.0, -2.0]))

        def forward(self, x):
            # Every sample's "loss" is f(w) = (2 w1^2 + 5 w2^2) / 2, of curvatures 2 and 5.
            return ((self.w**2 * torch.tensor([2.0, 5.0])).sum() / 2).expand(len(x), 1)

    loss = lambda out, y: out.mean()  # noqa: E731
    model = Quadratic()
    batches = [(torch.zeros(3, 1), torch.zeros(3)), (torch.zeros(5, 1), torch.zeros(5))]
    along_first = experiments.effective_smoothness(model, loss, batches, [torch.tensor([0.1, 0.0])])
    along_second = experiments.effective_smoothness(model, loss, batches, [torch.tensor([0.0, -0.3])])
    assert along_first == pytest.approx(2.0) and along_second == pytest.approx(5.0)
    assert torch.equal(model.w.detach(), torch.tensor([1.0, -2.0]))


def test_corrupt_labels_exact_and_reproducible():
    labels = torch.randint(0, 5, (400,))
    noisy = experiments.corrupt_labels(labels, 0.25, 5, torch.Generator().manual_seed(1))
    assert int((noisy != labels).sum()) == 100 and noisy.dtype == torch.int64
    assert torch.equal(noisy, experiments.corrupt_labels(labels, 0.25, 5, torch.Generator().manual_seed(1)))
    assert torch.equal(experiments.corrupt_labels(labels, 0.0, 5, torch.Generator()), labels)
    with pytest.raises(ValueError, match="fraction"):
        experiments.corrupt_labels(labels, 1.5, 5, torch.Generator())


def test_confusion_matrix_equals_scikit_learn():
    scores, y = torch.randn(50, 4), torch.randint(0, 4, (50,))
    batches = [(scores[:20], y[:20]), (scores[20:], y[20:])]
    got = experiments.confusion_matrix(nn.Identity(), batches, 4)
    expected = sklearn_confusion_matrix(y.numpy(), scores.argmax(dim=1).numpy(), labels=range(4))
    assert torch.equal(got, torch.from_numpy(expected))

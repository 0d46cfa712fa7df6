"""`course targets`: the notebooks' promised accuracies, recorded where the notebooks check them."""
import json

import nbformat
import pytest

from course.authoring import targets
from hw.targets import check_target


def test_check_target_records_and_fails_below_the_target(tmp_path, monkeypatch, capsys):
    record = tmp_path / "targets.jsonl"
    monkeypatch.setenv("HW_TARGETS_FILE", str(record))
    monkeypatch.delenv("HW_FAST", raising=False)
    check_target("model A, test accuracy", 55.0, 50)
    with pytest.raises(AssertionError, match=r"model B, test accuracy: 41.2%, expected at least 45%"):
        check_target("model B, test accuracy", 41.24, 45)
    assert "model A, test accuracy: 55.0% (meets the target of 50%)" in capsys.readouterr().out
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["what"], r["reached"], r["target"], r["fast"]) for r in lines] == [
        ("model A, test accuracy", 55.0, 50.0, False), ("model B, test accuracy", 41.24, 45.0, False)]


def tiny_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from hw.targets import check_target\ncheck_target('tiny, accuracy', 61.5, 60)"),
                nbformat.v4.new_code_cell("check_target('tiny, other accuracy', 12.0, 30)")]  # fmt: skip
    return nbformat.writes(nb)


def test_targets_runs_notebooks_on_the_dask_runner_and_tabulates(tmp_path, monkeypatch):
    notebook = tmp_path / "Tiny.ipynb"
    notebook.write_text(tiny_notebook())
    monkeypatch.setattr(targets, "source_notebooks", lambda: [notebook])
    (result,) = targets.measure()  # one worker process of an embedded Dask cluster
    assert [(t["what"], t["reached"]) for t in result["targets"]] == [("tiny, accuracy", 61.5), ("tiny, other accuracy", 12.0)]
    assert len(result["errors"]) == 1 and "expected at least 30%" in result["errors"][0]
    text, all_met = targets.table([result])
    assert not all_met
    assert "| Tiny.ipynb | tiny, accuracy: at least 60% | 61.5% | yes |" in text
    assert "| Tiny.ipynb | tiny, other accuracy: at least 30% | 12.0% | **no** |" in text


def test_a_notebook_without_its_data_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HW_DATA_DIR", str(tmp_path))
    result = targets.run_notebook("Part5_Experiments.ipynb", "not even a notebook")
    assert result["targets"] == [] and len(result["errors"]) == 4
    assert all(str(tmp_path) in error for error in result["errors"])
    _, all_met = targets.table([result])
    assert not all_met


def test_every_source_notebook_names_its_data_sets():
    from course import source_notebooks

    assert sorted(p.name for p in source_notebooks()) == sorted(targets.DATASETS)


def test_a_notebook_without_the_detectors_weights_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = targets.run_notebook("Part6_Inside.ipynb", "not even a notebook")
    assert len(result["errors"]) == 2 and "The detector's weights were not found" in result["errors"][1]

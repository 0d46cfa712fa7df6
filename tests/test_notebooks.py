"""Every source notebook runs top to bottom on the solution in fast mode (with nbval), as `course validate` requires."""
import nbformat
import pytest

from course import source_notebooks
from course.authoring.validate import check_scores, execute_notebook, run_notebooks


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.name)
def test_source_notebook_executes(path):
    execute_notebook(path)


def test_a_failing_cell_is_named_with_its_error(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A check"), nbformat.v4.new_code_cell("import os\nfast = os.environ['HW_FAST']"),
                nbformat.v4.new_code_cell("assert fast == '0', f'fast mode is {fast}'"), nbformat.v4.new_code_cell("print('after')")]  # fmt: skip
    nb.cells[2].id = "check_fast"
    path = tmp_path / "Broken.ipynb"
    nbformat.write(nb, path)
    results = run_notebooks([path], fast=True, progress=False)
    assert [(r.number, bool(r.error)) for r in results] == [(0, False), (1, True), (2, False)]
    assert results[1].cell_id == "check_fast" and results[1].error == "AssertionError: fast mode is 1"
    with pytest.raises(AssertionError, match=r"Broken.ipynb cell 1 \(check_fast\): AssertionError: fast mode is 1"):
        execute_notebook(path)


def test_validate_scores_check():
    ok, detail = check_scores()
    assert ok, detail

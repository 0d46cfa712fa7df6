"""Every source notebook runs top to bottom on the solution in fast mode, as `course validate` requires."""
import pytest

from course.release import source_notebooks
from course.validate import check_scores, execute_notebook


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.name)
def test_source_notebook_executes(path):
    execute_notebook(path)


def test_validate_scores_check():
    ok, detail = check_scores()
    assert ok, detail

"""rel_error, the measure every gradient check of the homework reports."""
import pytest
import torch

from hw.grad_check import rel_error


class TestRelError:
    def test_equal_tensors_have_no_error(self):
        x = torch.randn(4, 5, dtype=torch.float64)
        assert rel_error(x, x.clone()) == 0.0

    def test_error_is_relative_to_the_tensors_scale(self):
        x = torch.full((3,), 1000.0, dtype=torch.float64)
        assert rel_error(x, x + 1) == pytest.approx(1 / 2001)

    def test_shapes_that_differ_are_refused(self):
        with pytest.raises(ValueError, match=r"\(4, 1\) and \(4,\)"):
            rel_error(torch.zeros(4, 1), torch.zeros(4))

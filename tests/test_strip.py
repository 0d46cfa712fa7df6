import textwrap

import pytest

from course.authoring.strip import StripError, strip_solutions

SOURCE = textwrap.dedent(
    """\
    def relu(x):
        # TODO: Compute max(0, x).
        ### BEGIN SOLUTION
        out = x.clamp(min=0)
        ### END SOLUTION
        return out


    class Layer:
        def backward(self, dout):
            if dout is None:
                ### BEGIN SOLUTION
                return 0
                ### END SOLUTION
            return dout
    """
)


def test_regions_become_stubs_at_marker_indentation():
    stripped = strip_solutions(SOURCE)
    assert "clamp" not in stripped and "return 0" not in stripped
    assert "    # TODO: Compute max(0, x).\n    raise NotImplementedError()\n    return out" in stripped
    assert "            raise NotImplementedError()\n        return dout" in stripped


def test_stripped_module_imports_and_raises():
    namespace = {}
    exec(compile(strip_solutions(SOURCE), "stripped", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["relu"](1)


def test_source_without_markers_is_unchanged():
    assert strip_solutions("x = 1\n") == "x = 1\n"


@pytest.mark.parametrize(
    "source, error",
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "module level"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    ### END SOLUTION\n", "without"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "nested"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n### END SOLUTION\n  x = (\n", "not valid Python"),
    ],
    ids=["module-level", "unclosed", "unopened", "nested", "invalid-result"],
)
def test_bad_markers_are_refused(source, error):
    with pytest.raises(StripError, match=error):
        strip_solutions(source, "example.py")

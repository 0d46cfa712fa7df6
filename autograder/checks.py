"""
Comparisons made by the harness, with messages written for students.

Each check raises AssertionError whose text says what was compared, what was
expected and what came back; that text is the student's feedback.
"""
import torch


def fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_shape(what, got, expected_shape):
    if tuple(got.shape) != tuple(expected_shape):
        raise AssertionError(f"{what}: expected shape {fmt_shape(expected_shape)}, got {fmt_shape(got.shape)}")


def check_close(what, got, expected, atol=1e-5, rtol=1e-4):
    """Same shape and allclose, else a message with the worst element."""
    expected = expected.detach()
    check_shape(what, got, expected.shape)
    got = got.to(expected.dtype)
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).sum().item()
        raise AssertionError(f"{what}: {bad} value(s) are inf or nan")
    if torch.allclose(got, expected, atol=atol, rtol=rtol):
        return
    error = (got - expected).abs()
    flat = int(error.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape)) if expected.dim() else ()
    where = f" at index {index}" if index else ""
    raise AssertionError(
        f"{what}: differs from the expected values; largest error {error.max().item():.4g}{where} "
        f"(expected {expected.reshape(-1)[flat].item():.6g}, got {got.reshape(-1)[flat].item():.6g})"
    )


def check_equal(what, got, expected):
    if got != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")


def check_from_scratch(report, rule, *classes):
    """Fails with the first finding of ``rule`` in the code ``classes`` run (hw.policy.Report.scratch_findings)."""
    found = report.scratch_findings(rule, classes)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise AssertionError(f"{found[0].describe()}{more}")

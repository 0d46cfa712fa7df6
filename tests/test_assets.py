import torch

from course.authoring.assets import build_all, same_content, stale_assets, write_assets


def test_committed_assets_equal_regenerated():
    assert stale_assets() == []


def test_regeneration_is_reproducible():
    first, second = build_all(), build_all()
    assert all(same_content(first[name], second[name]) for name in first)


def test_a_changed_asset_is_detected(tmp_path):
    write_assets(tmp_path)
    assert stale_assets(tmp_path) == []
    path = tmp_path / "part1_reference.pt"
    content = torch.load(path, weights_only=True)
    content["dx"][0, 0] += 1e-3  # a change of the solution, far above the rounding that differs between CPUs
    torch.save(content, path)
    assert stale_assets(tmp_path) == ["part1_reference.pt"]


def test_rounding_differences_are_not_staleness():
    """One float32 ulp (what another CPU's SIMD gives) is the same asset; a change in the 4th digit is not."""
    x = torch.linspace(-2, 2, 50)
    assert same_content({"x": x, "loss": 2.3}, {"x": x.nextafter(torch.tensor(9.0)), "loss": 2.3 + 2e-7})
    assert not same_content({"x": x}, {"x": x * (1 + 1e-4)})
    assert not same_content({"loss": 2.3}, {"loss": 2.3001})
    assert not same_content(x, x.double())

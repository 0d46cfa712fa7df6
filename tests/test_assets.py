import torch

from course.assets import build_all, same_content, stale_assets, write_assets


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
    content["dx"][0, 0] += 1e-6
    torch.save(content, path)
    assert stale_assets(tmp_path) == ["part1_reference.pt"]

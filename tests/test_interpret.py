"""
Part 6's given code: GAPNet, the plots of hw/interpret.py, and hw/detection.py
(the stand-in detector, detect's NMS within each class, the bundled photographs
and the message when the detector's weights are missing); and the scan that
keeps captum and torchvision.ops out of a submission's hw/interpret.py.
"""
import sys

import matplotlib
import pytest
import torch
import torchvision

from course import REPO_ROOT
from hw import detection, interpret, policy
from hw.data import DatasetMissing

matplotlib.use("Agg")


def test_gapnet_shapes():
    net = interpret.GAPNet(3, 7, channels=(4, 6, 8))
    features = net.features(torch.rand(2, 3, 32, 32))
    assert tuple(features.shape) == (2, 8, 8, 8)
    assert tuple(net(torch.rand(2, 3, 32, 32)).shape) == (2, 7)
    assert [type(m).__name__ for m in net.classifier] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]


def test_plots_have_one_panel_per_channel_and_layer():
    net = interpret.GAPNet(3, 4, channels=(5, 6))
    maps = interpret.feature_maps(net, torch.rand(1, 3, 16, 16), ["features.0", "features.2"])
    fig = interpret.plot_feature_maps(maps, k=4)
    assert len(fig.axes) == 8
    assert sum(len(ax.images) for ax in fig.axes) == 8  # 5 and 6 channels, the first 4 of each
    fig = interpret.show_maps(torch.rand(3, 3, 16, 16), torch.rand(3, 16, 16), titles=["a", "b", "c"], ncols=2)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    fig = interpret.plot_filters(net.features[0])
    assert fig.axes[0].images[0].get_array().shape == (3, 5 * 3 + 4, 3)  # five 3x3 filters in one row, 1 pixel apart


def test_simulated_detector_overlaps_and_nms_keeps_one_box_per_object():
    labels = torch.tensor([0, 0])  # the same class: only their IoU keeps them apart
    boxes = torch.tensor([[2.0, 2.0, 12.0, 12.0], [18.0, 18.0, 30.0, 30.0]])
    model = detection.simulated_detector(boxes, labels, copies=10, seed=1)
    found = detection.detect(model, torch.rand(3, 32, 32), interpret.nms, score_threshold=0.5, iou_threshold=0.3)
    assert len(found["before_nms"]["boxes"]) == 20  # the three far boxes of each object score below 0.5
    assert len(found["boxes"]) == 2
    assert torch.allclose(torchvision.ops.box_iou(found["boxes"], boxes).amax(dim=1), torch.ones(2), atol=0.5)
    assert found["scores"].tolist() == sorted(found["scores"].tolist(), reverse=True)
    again = detection.detect(model, torch.rand(3, 32, 32), interpret.nms, score_threshold=0.5, iou_threshold=0.3)
    assert torch.equal(again["boxes"], found["boxes"]), "the stand-in gives the same boxes on every call"


def test_detect_suppresses_only_within_a_class():
    box = torch.tensor([[4.0, 4.0, 20.0, 20.0]])
    raw = {"boxes": box.repeat(2, 1), "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 2])}
    found = detection.detect(lambda images: [raw], torch.rand(3, 32, 32), interpret.nms)
    assert found["labels"].tolist() == [1, 2], "identical boxes of two classes are two detections"
    same = dict(raw, labels=torch.tensor([1, 1]))
    assert detection.detect(lambda images: [same], torch.rand(3, 32, 32), interpret.nms)["labels"].tolist() == [1]
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    assert len(detection.detect(lambda images: [empty], torch.rand(3, 32, 32), interpret.nms)["boxes"]) == 0


def test_sample_images_are_rgb_in_unit_range():
    images = detection.sample_images()
    assert sorted(images) == ["china", "flower", "grace_hopper"]
    for image in images.values():
        assert image.dim() == 3 and image.shape[0] == 3 and min(image.shape[1:]) > 200
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DatasetMissing, match=r"(?s)weights were not found at .*python -m hw.detection download.*HW_FAST=1"):
        detection.detector(pretrained=True)
    assert detection.categories()[1] == "person"


def test_policy_refuses_the_reference_libraries():
    """captum is outside the closed world (a flag); torchvision's nms inside nms breaks Part 6's from-scratch rule."""
    source = (b"import torch\nfrom captum.attr import LayerGradCam\n\n\ndef nms(boxes, scores, t):\n"
              b"    import torchvision.ops\n    return torchvision.ops.nms(boxes, scores, t)\n")  # fmt: skip
    findings, _ = policy.check_source(source, "hw/interpret.py")
    assert [f.line for f in findings if f.from_scratch is None] == [2, 6, 7]
    assert any(f.from_scratch is policy.BOX_RULE and "torchvision.ops.nms" in f.message for f in findings)
    own = b"def nms(boxes, scores, t):\n    return box_iou(boxes, boxes)\n\n\ndef box_iou(a, b):\n    return a\n"
    assert policy.check_source(own, "hw/interpret.py") == ([], None)  # its own functions of the same names are fine


def test_the_pretrained_detector_loads_from_torchs_cache_and_detects(tmp_path, monkeypatch):
    """The notebook's real path without the network: weights of the right shapes at weights_path() are loaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    untrained = detection.detector(pretrained=False)
    detection.weights_path().parent.mkdir(parents=True)
    torch.save(untrained.state_dict(), detection.weights_path())
    model = detection.detector(pretrained=True)
    assert model.roi_heads.nms_thresh == 1.0, "the student's nms does the suppression"
    saved = untrained.state_dict()  # (pretrained, the backbone's batch norms are frozen: no num_batches_tracked)
    assert all(torch.equal(value, saved[key]) for key, value in model.state_dict().items())
    found = detection.detect(model, torch.rand(3, 120, 160), interpret.nms, score_threshold=0.0)
    assert found["boxes"].shape[1:] == (4,) and len(found["boxes"]) <= len(found["before_nms"]["boxes"])

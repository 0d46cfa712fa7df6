"""
Trusted probes of Part 6 (feature maps, attribution maps, boxes).

Sent to the worker after probes.py and run in the same module (see
probes_part5.py). Every model here is the probes' own, built from the state
dict the harness sends; the student's functions only run on it.
"""
from collections import OrderedDict

import torch
from torch import nn
from torch.nn.modules import module as _module_internals

from probes import PROBES, StudentError, box_rules, plain_tensor, student_function, under

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                     "_global_backward_pre_hooks")  # fmt: skip


class ProbeGAPNet(nn.Module):
    """hw/interpret.py's GAPNet again (the worker must not use the submission's copy): one state dict fits both."""

    def __init__(self, in_channels, num_classes, channels):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if i < len(channels) - 1 else []
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def _hooks_left(model):
    """Names of the hook dictionaries that are not empty after the student's function (the model's and torch's global ones)."""
    left = []
    for name, module in model.named_modules():
        for attribute in HOOK_DICTS:
            hooks = module.__dict__.get(attribute)
            if type(hooks) is not OrderedDict or OrderedDict.__len__(hooks):
                left.append(f"{name or 'the model'}.{attribute}")
    for attribute in GLOBAL_HOOK_DICTS:
        hooks = getattr(_module_internals, attribute, None)
        if hooks is not None and (type(hooks) is not OrderedDict or OrderedDict.__len__(hooks)):
            left.append(f"torch's {attribute.lstrip('_')}")
    return left


def attribution_pass(function, channels, num_classes, state, x, target, layer=None):
    """
    The student's ``function`` (saliency, guided_backprop, cam or grad_cam)
    on a ProbeGAPNet with ``state`` loaded, in eval mode; ``layer`` indexes
    model.features for grad_cam. Returns the map and the hooks left behind.
    """
    model = ProbeGAPNet(x.shape[1], num_classes, channels)
    model.load_state_dict(state)
    model.eval()
    args = (model, x.clone(), target.clone() if isinstance(target, torch.Tensor) else target)
    if layer is not None:
        args += (model.features[layer],)
    result = student_function(function, "hw.interpret")(*args)
    return {"map": plain_tensor(result, function), "hooks_left": _hooks_left(model)}


def feature_maps_pass(channels, num_classes, state, x, layers):
    """feature_maps(model, x, layers) on a ProbeGAPNet with ``state``: the maps by name, and the hooks left."""
    model = ProbeGAPNet(x.shape[1], num_classes, channels)
    model.load_state_dict(state)
    model.eval()
    maps = student_function("feature_maps", "hw.interpret")(model, x.clone(), list(layers))
    if not isinstance(maps, dict):
        raise StudentError(f"feature_maps returned {type(maps).__name__}, expected a dict")
    got = {str(name): plain_tensor(value, f"feature_maps[{name!r}]") for name, value in list(maps.items())[:20]}
    return {"maps": got, "order": list(got), "hooks_left": _hooks_left(model)}


def unknown_layer_error(x):
    """What feature_maps raises for a layer name that the model does not have."""
    model = ProbeGAPNet(x.shape[1], 3, [4])
    try:
        student_function("feature_maps", "hw.interpret")(model, x.clone(), ["features.0", "no.such.layer"])
    except KeyError:
        return {"raised": "KeyError", "hooks_left": _hooks_left(model)}
    except Exception as exc:  # noqa: BLE001 - reported to the harness, which judges it
        return {"raised": type(exc).__name__, "hooks_left": _hooks_left(model)}
    return {"raised": None, "hooks_left": _hooks_left(model)}


def tensor_function(function, args):
    """hw.interpret.``function``(*args) for functions of tensors and numbers (normalise_channels, filter_grid, box_iou, nms)."""
    values = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    return plain_tensor(student_function(function, "hw.interpret")(*values), function)


@under(box_rules)
def box_function(function, args):
    """box_iou or nms, as tensor_function, with only the elementary operators allowed (Part 6's from-scratch rule)."""
    if function not in ("box_iou", "nms"):
        raise ValueError(f"box_function runs box_iou or nms, not {function}")
    return tensor_function(function, args)


PROBES.update({f.__name__: f for f in (attribution_pass, feature_maps_pass, unknown_layer_error, tensor_function,
                                       box_function)})  # fmt: skip

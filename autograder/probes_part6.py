"""
Trusted probes of Part 6 (feature maps, attribution maps, boxes).

Sent to the worker after probes.py and run in the same module (see
probes_part5.py). Every model here is the probes' own, built from the state
dict the harness sends; the student's functions only run on it.
"""
import torch
from torch import nn

from probes import PROBES, StudentError, box_rules, plain_tensor, student_function, under


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


def behaviour(model, x):
    """
    What the model computes after the student's function returned: its output
    for ``x`` and the gradient of the outputs' sum with respect to ``x``. The
    harness compares both with its own copy of the model: a hook left behind
    that changes either shows, whatever the model's hook tables say.
    """
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        (dx,) = torch.autograd.grad(out.sum(), x)
    return {"out": plain_tensor(out, "the model's output"), "dx": plain_tensor(dx, "the model's input gradient")}


def probe_net(channels, num_classes, state, in_channels):
    """A ProbeGAPNet with ``state`` loaded, in eval mode."""
    model = ProbeGAPNet(in_channels, num_classes, channels)
    model.load_state_dict(state)
    return model.eval()


def attribution_pass(function, channels, num_classes, state, x, target, layer=None, check_x=None):
    """
    The student's ``function`` (saliency, guided_backprop, cam or grad_cam)
    on a ProbeGAPNet with ``state`` loaded, in eval mode; ``layer`` indexes
    model.features for grad_cam. Returns the map and, with ``check_x``, the
    model's behaviour afterwards.
    """
    model = probe_net(channels, num_classes, state, x.shape[1])
    args = (model, x.clone(), target.clone() if isinstance(target, torch.Tensor) else target)
    if layer is not None:
        args += (model.features[layer],)
    result = student_function(function, "hw.interpret")(*args)
    return {"map": plain_tensor(result, function), "after": behaviour(model, check_x) if check_x is not None else None}


def feature_maps_pass(channels, num_classes, state, x, layers):
    """feature_maps(model, x, layers) on a ProbeGAPNet with ``state``: the maps by name, and the model's behaviour after."""
    model = probe_net(channels, num_classes, state, x.shape[1])
    maps = student_function("feature_maps", "hw.interpret")(model, x.clone(), list(layers))
    if not isinstance(maps, dict):
        raise StudentError(f"feature_maps returned {type(maps).__name__}, expected a dict")
    got = {str(name): plain_tensor(value, f"feature_maps[{name!r}]") for name, value in list(maps.items())[:20]}
    return {"maps": got, "order": list(got), "after": behaviour(model, x)}


def unknown_layer_error(channels, num_classes, state, x):
    """What feature_maps raises for a layer name that the model does not have, and the model's behaviour after."""
    model = probe_net(channels, num_classes, state, x.shape[1])
    try:
        student_function("feature_maps", "hw.interpret")(model, x.clone(), ["features.0", "no.such.layer"])
    except KeyError:
        raised = "KeyError"
    except Exception as exc:  # noqa: BLE001 - reported to the harness, which judges it
        raised = type(exc).__name__
    else:
        raised = None
    return {"raised": raised, "after": behaviour(model, x)}


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

"""
Reference architectures for Part 4's hidden tests, built in the harness.

Written from the specification in hw/cnn.py's docstrings, independently of
the instructor's solution: each has the attribute names (and so the state
dict keys) the skeleton promises, and is built from PyTorch's own layers.
A test loads one explicit state dict into both a reference and the
student's model, so nothing depends on how either draws its initial weights.
"""
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "lrelu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class Classifier(nn.Module):
    """feature_extractor -> flatten -> classifier, as CNN and ResNet are laid out."""

    def __init__(self, feature_extractor, classifier):
        super().__init__()
        self.feature_extractor, self.classifier = feature_extractor, classifier

    def forward(self, x):
        return self.classifier(self.feature_extractor(x).flatten(start_dim=1))


class Block(nn.Module):
    """activation(main_path(x) + shortcut_path(x)), as ResidualBlock is laid out."""

    def __init__(self, main_path, shortcut_path, activation, kind="ResidualBlock"):
        super().__init__()
        self.activation, self.main_path, self.shortcut_path = activation, main_path, shortcut_path
        self.kind = kind  # the student's class this block stands for

    def forward(self, x):
        return self.activation(self.main_path(x) + self.shortcut_path(x))


def activation(kind="relu", params=None):
    return ACTIVATIONS[kind](**(params or {}))


def head(features, in_size, out_classes, hidden_dims, activation_type, activation_params):
    """The fully connected part after ``features``, whose output size is measured on zeros in eval mode."""
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, *in_size)).numel()
    features.train()
    layers = []
    for width in hidden_dims:
        layers += [nn.Linear(size, width), activation(activation_type, activation_params)]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, out_classes))


def cnn(in_size, out_classes, channels, pool_every, hidden_dims, conv_params=None, activation_type="relu",
        activation_params=None, pooling_type="max", pooling_params=None):  # fmt: skip
    conv_params = dict(kernel_size=3, padding=1) if conv_params is None else conv_params
    pooling_params = dict(kernel_size=2) if pooling_params is None else pooling_params
    layers, c_in = [], in_size[0]
    for i, c_out in enumerate(channels):
        layers += [nn.Conv2d(c_in, c_out, **conv_params), activation(activation_type, activation_params)]
        if (i + 1) % pool_every == 0:
            layers.append(POOLINGS[pooling_type](**pooling_params))
        c_in = c_out
    features = nn.Sequential(*layers)
    return Classifier(features, head(features, in_size, out_classes, hidden_dims, activation_type, activation_params))


def residual_block(in_channels, channels, kernel_sizes, batchnorm=False, dropout=0.0, activation_type="relu",
                   activation_params=None):  # fmt: skip
    layers, c_in = [], in_channels
    for i, (c_out, k) in enumerate(zip(channels, kernel_sizes)):
        layers.append(nn.Conv2d(c_in, c_out, k, padding=k // 2))
        if i + 1 < len(channels):
            layers += [nn.Dropout2d(dropout)] if dropout > 0 else []
            layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
            layers.append(activation(activation_type, activation_params))
        c_in = c_out
    if in_channels == channels[-1]:
        shortcut = nn.Identity()
    else:
        shortcut = nn.Sequential(nn.Conv2d(in_channels, channels[-1], 1, bias=False))
    return Block(nn.Sequential(*layers), shortcut, activation(activation_type, activation_params))


def bottleneck_block(in_out_channels, inner_channels, inner_kernel_sizes, **kwargs):
    channels = [inner_channels[0], *inner_channels, in_out_channels]
    block = residual_block(in_out_channels, channels, [1, *inner_kernel_sizes, 1], **kwargs)
    block.kind = "ResidualBottleneckBlock"
    return block


def resnet(in_size, out_classes, channels, pool_every, hidden_dims, batchnorm=False, dropout=0.0, bottleneck=False,
           activation_type="relu", activation_params=None, pooling_type="max", pooling_params=None):  # fmt: skip
    pooling_params = dict(kernel_size=2) if pooling_params is None else pooling_params
    block_kwargs = dict(batchnorm=batchnorm, dropout=dropout, activation_type=activation_type,
                        activation_params=activation_params)  # fmt: skip
    layers, c_in = [], in_size[0]
    groups = [channels[i : i + pool_every] for i in range(0, len(channels), pool_every)]
    for group in groups:
        if bottleneck and len(group) >= 3 and group[0] == group[-1] == c_in:
            inner = group[1:-1]
            layers.append(bottleneck_block(c_in, inner, [3] * len(inner), **block_kwargs))
        else:
            layers.append(residual_block(c_in, group, [3] * len(group), **block_kwargs))
        if len(group) == pool_every:
            layers.append(POOLINGS[pooling_type](**pooling_params))
        c_in = group[-1]
    features = nn.Sequential(*layers)
    return Classifier(features, head(features, in_size, out_classes, hidden_dims, activation_type, activation_params))


def vgg(in_size, out_classes, channels, pool_every, hidden_dims, batchnorm=False, dropout=0.0, activation_type="relu",
        activation_params=None, pooling_params=None):  # fmt: skip
    pooling_params = dict(kernel_size=2) if pooling_params is None else pooling_params
    layers, c_in = [], in_size[0]
    for i, c_out in enumerate(channels):
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
        layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
        layers.append(activation(activation_type, activation_params))
        if (i + 1) % pool_every == 0:
            layers.append(nn.MaxPool2d(**pooling_params))
            layers += [nn.Dropout2d(dropout)] if dropout > 0 else []
        c_in = c_out
    features = nn.Sequential(*layers)
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, *in_size)).numel()
    features.train()
    fc = []
    for width in hidden_dims:
        fc += [nn.Linear(size, width), activation(activation_type, activation_params)]
        fc += [nn.Dropout(dropout)] if dropout > 0 else []
        size = width
    return Classifier(features, nn.Sequential(*fc, nn.Linear(size, out_classes)))


class Sequenced(nn.Module):
    """feature_extractor -> classifier with no flattening between them, as NiNNet is laid out."""

    def __init__(self, feature_extractor, classifier):
        super().__init__()
        self.feature_extractor, self.classifier = feature_extractor, classifier

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


def nin(in_size, out_classes, channels, kernel_sizes, batchnorm=False, dropout=0.0, activation_type="relu",
        activation_params=None):  # fmt: skip
    def mlpconv(c_in, widths, k, last):
        layers = []
        for j, (c_out, kernel) in enumerate(zip(widths, (k, 1, 1))):
            layers.append(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2))
            if not (last and j == 2):
                layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
                layers.append(activation(activation_type, activation_params))
            c_in = c_out
        return layers

    features, c_in = [], in_size[0]
    for width, k in zip(channels[:-1], kernel_sizes[:-1]):
        features += mlpconv(c_in, [width] * 3, k, last=False)
        features.append(nn.MaxPool2d(2))
        features += [nn.Dropout2d(dropout)] if dropout > 0 else []
        c_in = width
    head = mlpconv(c_in, [channels[-1], out_classes, out_classes], kernel_sizes[-1], last=True)
    return Sequenced(nn.Sequential(*features), nn.Sequential(*head, nn.AdaptiveAvgPool2d(1), nn.Flatten()))


BUILDERS = {"CNN": cnn, "ResidualBlock": residual_block, "ResidualBottleneckBlock": bottleneck_block, "ResNet": resnet, "VGGNet": vgg, "NiNNet": nin}


def layer_names(model):
    """What the architecture probe reports: each named part's layer class names."""
    parts = {}
    for part in ("feature_extractor", "classifier", "main_path", "shortcut_path"):
        sub = getattr(model, part, None)
        if isinstance(sub, nn.Sequential):
            parts[part] = [type(layer).__name__ for layer in sub]
        elif isinstance(sub, nn.Module):
            parts[part] = [type(sub).__name__]
    return parts


def block_names(model):
    """Class names of a reference model's layers, with residual blocks under the student's class names."""
    names = layer_names(model)
    if "feature_extractor" in names:
        names["feature_extractor"] = [layer.kind if isinstance(layer, Block) else name
                                      for layer, name in zip(model.feature_extractor, names["feature_extractor"])]  # fmt: skip
    return names

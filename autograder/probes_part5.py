"""
Trusted probes of Part 5 (experiments and studies).

Sent to the worker after probes.py and run in the same module: it uses
probes.py's helpers and adds its probes to PROBES. Like probes.py, it
imports nothing else of the repository.
"""
import json
import os
import tempfile

import torch
from torch import nn

# In the worker, "probes" is the module this text runs in (course/grading/worker.py, load_probes).
from probes import PROBES, StudentError, plain_tensor, student_class, student_function, student_module


def _small_shapes(num_train, num_test):
    """image_classification's replacement in a run-exp probe: a few Shapes images, not the notebook's 5,000."""
    data = student_module("hw.data")
    ds_train, ds_test = data.Shapes(train=True, num_samples=num_train), data.Shapes(train=False, num_samples=num_test)

    def image_classification(name="cifar10"):
        return ds_train, ds_test

    return image_classification


class TrainedModel:
    """
    The model a run trains, found by what it does rather than by how the run
    builds it: the outermost module that is called on a batch of the run's
    images (global module hooks). Records every such call (training mode or
    not, which images, the scores it returned) and the parameters as they
    were at the first, so that the test can tell whether the FitResult is
    what the run's model did.
    """

    def __init__(self, images, labels, num_train):
        self.images, self.labels, self.num_train = images.reshape(len(images), -1), labels, num_train
        self.depth = 0  # how many module calls are under way: only calls at depth 0 are outermost
        self.models, self.first_parameters, self.calls, self.parameters_at, self.gradients = [], [], [], [], []
        self.current = None  # (module, indices of the images) of the outermost call under way
        self.handles = []

    def __enter__(self):
        self.handles = [torch.nn.modules.module.register_module_forward_pre_hook(self.entered),
                        torch.nn.modules.module.register_module_forward_hook(self.left, always_call=True)]  # fmt: skip
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()

    def image_indices(self, x):
        """The indices of the run's images that make up the batch ``x``, or None when it is not a batch of them."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or len(x) == 0 or x[0].numel() != self.images.shape[1]:
            return None
        with torch.no_grad():
            rows = x.detach().to("cpu", self.images.dtype).reshape(len(x), -1)
            same = (rows[:, None, :] == self.images[None]).all(dim=2)
        return same.float().argmax(dim=1) if bool(same.any(dim=1).all()) else None

    def entered(self, module, args):
        if self.depth == 0 and args:
            indices = self.image_indices(args[0])
            if indices is not None:
                if not any(module is m for m in self.models):
                    self.models.append(module)
                    self.first_parameters.append([p.detach().clone() for p in module.parameters()])
                self.current = (module, indices, module.training)
                if module.training:  # where training has brought the parameters at this batch
                    self.parameters_at.append(torch.cat([p.detach().reshape(-1).cpu() for p in module.parameters()]))
        self.depth += 1

    def left(self, module, args, output):
        self.depth = max(0, self.depth - 1)
        if self.depth == 0 and self.current is not None and module is self.current[0]:
            _, indices, training = self.current
            self.current = None
            if isinstance(output, torch.Tensor) and output.dim() == 2 and len(output) == len(indices):
                split = "train" if bool((indices < self.num_train).all()) else "test" if bool((indices >= self.num_train).all()) else "both"
                self.calls.append({"training": training, "split": split, "labels": self.labels[indices],
                                   "scores": plain_tensor(output, "the model")})  # fmt: skip
                if training:
                    self.gradients.append(self.loss_gradient(module, output, self.labels[indices]))

    @staticmethod
    def loss_gradient(module, output, labels):
        """The gradient of the batch's cross-entropy with respect to the parameters (None where the scores carry none)."""
        params = [p for p in module.parameters()]
        if not output.requires_grad or not params:
            return None
        loss = torch.nn.functional.cross_entropy(output.float(), labels.to(output.device))
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if g is None else g).detach().reshape(-1).cpu() for p, g in zip(params, grads)])

    def report(self, model_class, ds_test):
        """What the test judges: the model's class, how far training moved it, its calls, its scores on the test images."""
        if len(self.models) != 1:
            return {"models": len(self.models)}
        model, first = self.models[0], self.first_parameters[0]
        moved = max(((p.detach().cpu() - f.cpu()).abs().max().item() for p, f in zip(model.parameters(), first)
                     if p.shape == f.shape and p.numel()), default=0.0)  # fmt: skip
        images = torch.stack([ds_test[i][0] for i in range(len(ds_test))])
        labels = torch.tensor([int(ds_test[i][1]) for i in range(len(ds_test))])
        model.train(False)
        device = next(model.parameters()).device
        with torch.no_grad():
            scores = plain_tensor(model(images.to(device)), "the trained model")
        # Training batches after which the parameters stayed as they were: no optimizer step was taken.
        unmoved = [i for i, (a, b) in enumerate(zip(self.parameters_at, self.parameters_at[1:]), start=1)
                   if a.shape == b.shape and torch.equal(a, b)]  # fmt: skip
        # Each training batch's step against the gradient of its loss: the cosine of (p_after - p_before, -gradient).
        descent = []
        for before, after, gradient in zip(self.parameters_at, self.parameters_at[1:], self.gradients):
            if gradient is None or before.shape != after.shape or gradient.shape != before.shape:
                descent.append(None)
            else:
                step = (after - before).double()
                norms = step.norm() * gradient.double().norm()
                descent.append(float(-(step @ gradient.double()) / norms) if norms > 0 else 0.0)
        return {"models": 1, "class": type(model).__name__, "is_model_type": isinstance(model, model_class),
                "moved": float(moved), "calls": self.calls, "test_scores": scores, "test_labels": labels,
                "steps_missing": unmoved, "descent": descent}  # fmt: skip


def run_exp_command(argv, num_train, num_test, model_class):
    """
    ``python -m hw.experiments`` with ``argv`` (plus ``--out-dir``, a fresh
    folder) in fast mode, on a few Shapes images. Returns the names and texts
    of the files it wrote, what load_experiment reads from the result, and the
    model it trained (see TrainedModel).
    """
    experiments = student_module("hw.experiments")
    main = student_function("main", "hw.experiments")
    model_class = student_class(model_class, "hw.cnn")
    os.environ["HW_FAST"] = "1"
    small = _small_shapes(num_train, num_test)
    ds_train, ds_test = small()
    images = torch.stack([ds[i][0] for ds in (ds_train, ds_test) for i in range(len(ds))])
    labels = torch.tensor([int(ds[i][1]) for ds in (ds_train, ds_test) for i in range(len(ds))])
    patched = [(module, "image_classification") for module in (experiments, student_module("hw.data"))
               if hasattr(module, "image_classification")]  # fmt: skip
    originals = [getattr(module, name) for module, name in patched]
    for module, name in patched:
        setattr(module, name, small)
    try:
        with tempfile.TemporaryDirectory() as folder:
            with TrainedModel(images, labels, len(ds_train)) as watch:
                main(list(argv) + ["--out-dir", folder])
            names = sorted(name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name)))[:20]
            files = {name: open(os.path.join(folder, name), encoding="utf-8", errors="replace").read(200_000) for name in names}
            loaded = None
            results = [name for name in files if name.endswith(".json")]
            if len(results) == 1:
                cfg, fit_res = experiments.load_experiment(os.path.join(folder, results[0]))
                if not isinstance(cfg, dict):
                    raise StudentError(f"load_experiment returned a configuration of type {type(cfg).__name__}, expected a dict")
                loaded = {"config": json.loads(json.dumps(cfg, default=str)),
                          "fit": {k: [float(v) for v in getattr(fit_res, k)] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
                          | {"num_epochs": int(fit_res.num_epochs)}}  # fmt: skip
    finally:
        for (module, name), original in zip(patched, originals):
            setattr(module, name, original)
    return {"files": files, "loaded": loaded, "model": watch.report(model_class, ds_test)}


class SmoothnessNet(nn.Sequential):
    """
    Two convolutions, [BatchNorm after each pooling]: test_part5_experiments.SmoothnessNet again, since the
    worker cannot import the harness's modules (the test loads one state dict into both).
    """

    def __init__(self, batchnorm, in_channels=1, size=12, num_classes=4):
        bn = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
        super().__init__(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), *bn(4),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), *bn(6),
            nn.Flatten(), nn.Linear(6 * (size // 4) ** 2, num_classes),
        )  # fmt: skip


def smoothness_pass(batchnorm, state, batches, step, train):
    """
    The student's effective_smoothness on a trusted SmoothnessNet with
    ``state`` loaded, in training or evaluation mode; returns its value and
    the state dict afterwards.
    """
    smoothness = student_function("effective_smoothness", "hw.experiments")
    model = SmoothnessNet(batchnorm)
    model.load_state_dict(state)
    model.train(train)
    value = smoothness(model, nn.CrossEntropyLoss(), [(x.clone(), y.clone()) for x, y in batches],
                       [u.clone() for u in step])  # fmt: skip
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StudentError(f"effective_smoothness returned {type(value).__name__}, expected a float") from None
    after = {k: plain_tensor(v, "the model's state after effective_smoothness") for k, v in model.state_dict().items()}
    return {"value": value, "state": after}


def noisy_labels(labels, fraction, num_classes, seed, repeat):
    """corrupt_labels(labels, fraction, num_classes, generator seeded with seed), ``repeat`` times, and the input afterwards."""
    corrupt = student_function("corrupt_labels", "hw.experiments")
    given = labels.clone()
    outputs = [plain_tensor(corrupt(given, fraction, num_classes, torch.Generator().manual_seed(seed)), "corrupt_labels")
               for _ in range(repeat)]  # fmt: skip
    return {"outputs": outputs, "input_after": plain_tensor(given, "the labels passed to corrupt_labels")}


def confusion_pass(batches, num_classes):
    """confusion_matrix of a model that outputs the scores sent (nn.Identity) on batches (scores, y)."""
    matrix = student_function("confusion_matrix", "hw.experiments")
    return plain_tensor(matrix(nn.Identity(), [(s.clone(), y.clone()) for s, y in batches], num_classes), "confusion_matrix")


def text_cnn_pass(kwargs, tokens, state=None):
    """hw.text's TextCNN(**kwargs): its state dict's shapes and, with ``state`` loaded (eval mode), its scores for ``tokens``."""
    model = student_class("TextCNN", module="hw.text")(**kwargs)
    if not isinstance(model, nn.Module):
        raise StudentError("TextCNN is not a torch.nn.Module")
    shapes = {str(k): [int(s) for s in v.shape] for k, v in model.state_dict().items()}
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split()).replace("Error(s) in loading state_dict for TextCNN: ", "")
            raise StudentError(f"TextCNN: the parameters do not match the specification: {detail[:400]}") from None
    model.eval()
    with torch.no_grad():
        scores = model(tokens.clone())
    return {"state_shapes": shapes, "scores": plain_tensor(scores, "TextCNN.forward")}


PROBES.update({f.__name__: f for f in (run_exp_command, smoothness_pass, noisy_labels, confusion_pass, text_cnn_pass)})

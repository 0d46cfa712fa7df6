"""
Trusted probes of Part 2 (optimization): the optimizers' steps, and the Trainer driven by trusted models and optimizers.

Sent to the worker after probes.py and run in the same module: it uses
probes.py's helpers and adds its probes to PROBES. Like probes.py, it
imports nothing else of the repository.
"""
import contextlib
import os
import sys
import tempfile

import torch
from torch.utils.data import DataLoader, TensorDataset

# In the worker, "probes" is the module this text runs in (course/grading/worker.py, load_probes).
from probes import (AllowOperators, ELEMENTARY_OPERATORS, PROBES, StudentError, autograd_refused, plain_tensor,
                    student_class)


LIBRARY_UPDATE_RULES = (os.path.dirname(torch.optim.__file__) + os.sep,)  # where torch.optim's step code lives


@contextlib.contextmanager
def optimizer_rules():
    """
    The optimizers' rule at run time: a step or zero_grad records no
    gradients and may not switch recording on, runs only the elementary
    operators, and runs no code of torch.optim (whose CPU steps are made of
    elementary operators too), however reached: a profile hook sees every
    Python function that runs.
    """
    ran = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(LIBRARY_UPDATE_RULES) and not ran:
            ran.append(f"{os.path.basename(frame.f_code.co_filename)}: {frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with torch.no_grad(), AllowOperators(ELEMENTARY_OPERATORS, "the optimizer", autograd=True), autograd_refused():
            yield
    finally:
        sys.setprofile(previous)
    if ran:
        raise StudentError(f"the optimizer ran torch.optim's code ({ran[0]}): the update rules are written by hand")


def _optimizer_on_one_parameter(cls, kwargs, initial, form):
    """A student optimizer over one parameter in the given form, with the parameter and its gradient."""
    optimizer_class = student_class(cls, module="hw.optimizers")
    if form == "tuples":
        param, grad = initial.clone(), torch.zeros_like(initial)
        return optimizer_class([(param, grad)], **kwargs), param, grad
    param = torch.nn.Parameter(initial.clone())
    param.grad = torch.zeros_like(initial)
    return optimizer_class([param], **kwargs), param, param.grad


def optimizer_steps(cls, kwargs, initial, grads, form="tuples"):
    """
    Runs ``len(grads)`` steps of a student optimizer on one parameter, the
    gradient set to ``grads[i]`` before step i. ``form`` is "tuples" (a
    Layer-style (tensor, gradient) pair) or "tensors" (an nn.Parameter whose
    gradient is in .grad). Returns the parameter and the model's gradient
    tensor after every step.
    """
    optimizer, param, grad = _optimizer_on_one_parameter(cls, kwargs, initial, form)
    after, grads_after = [], []
    for g in grads:
        grad.copy_(g)
        with optimizer_rules():
            optimizer.step()
        after.append(plain_tensor(param.detach(), f"{cls}: the parameter"))
        grads_after.append(plain_tensor(grad, f"{cls}: the gradient"))
    return {"after": after, "grads_after": grads_after}


def optimizer_zero_grad(cls, kwargs, initial, grad_value, form="tuples"):
    """
    The gradient tensor the model held before zero_grad(), read after it
    (zeroed in place, or left as it was when zero_grad() put a new tensor in
    its place), and what the parameter holds now.
    """
    optimizer, param, grad = _optimizer_on_one_parameter(cls, kwargs, initial, form)
    grad.copy_(grad_value)
    with optimizer_rules():
        optimizer.zero_grad()
    held = grad if form == "tuples" else param.grad
    if held is None:
        raise StudentError(f"{cls}.zero_grad() set the parameter's .grad to None; zero it in place instead")
    return {"original": plain_tensor(grad, f"{cls}: the gradient"), "held": plain_tensor(held, f"{cls}.zero_grad()")}


# -- trainer probes: trusted models and optimizers, the student's Trainer -----


def training_mask(num_features):
    """
    What the trusted models multiply their input by in training mode (a fixed
    dropout: features 0, 2, 4, ... doubled, the others dropped). So the
    losses a trainer reports, and the weights it ends with, show which mode
    the model was in; the harness computes the same.
    """
    mask = torch.zeros(num_features)
    mask[::2] = 2.0
    return mask


class ProbeLinear:
    """
    A trusted linear classifier with the Layer API (scores = x @ w.T + b,
    with training_mask applied to x in training mode), for LayerTrainer.
    """

    def __init__(self, w, b):
        self.w, self.b = w.clone(), b.clone()
        self.dw, self.db = torch.zeros_like(self.w), torch.zeros_like(self.b)
        self.training_mode = True
        self.x = None

    def __call__(self, x, **kw):
        return self.forward(x, **kw)

    def forward(self, x, **kw):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise StudentError(f"LayerTrainer gave the model a batch of shape {shape}; flatten it to (N, D) first")
        if self.training_mode:
            x = x * training_mask(x.shape[1])
        self.x = x
        return x @ self.w.T + self.b

    def backward(self, dout):
        self.dw += dout.T @ self.x
        self.db += dout.sum(dim=0)
        return dout @ self.w

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]

    def train(self, training_mode=True):
        self.training_mode = training_mode

    def state_dict(self):
        return [self.w.clone(), self.b.clone()]

    def load_state_dict(self, state):
        self.w.copy_(state[0])
        self.b.copy_(state[1])


class ProbeCrossEntropy:
    """A trusted mean cross-entropy loss with the Layer API, for LayerTrainer."""

    def __call__(self, x, y=None, **kw):
        return self.forward(x, y=y)

    def forward(self, x, y=None, **kw):
        if y is None:
            raise StudentError("LayerTrainer called the loss without the labels y")
        self.x, self.y = x, y
        return torch.nn.functional.cross_entropy(x, y)

    def backward(self, dout=1.0):
        probs = torch.softmax(self.x, dim=1)
        probs[torch.arange(len(self.y)), self.y] -= 1
        return probs * (dout / len(self.y))


class ProbeTorchLinear(torch.nn.Module):
    """A trusted linear classifier as an nn.Module, for ClassifierTrainer; the same model as ProbeLinear."""

    def __init__(self, w, b):
        super().__init__()
        self.linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(w)
            self.linear.bias.copy_(b)

    def forward(self, x):
        x = x.flatten(1)
        if self.training:
            x = x * training_mask(x.shape[1])
        return self.linear(x)


class ProbeSGD:
    """
    Trusted plain SGD over (tensor, gradient) pairs or tensors with .grad,
    with a state (its step count) for checkpoints.
    """

    def __init__(self, params, learn_rate):
        self.param_list = list(params)
        self.learn_rate = learn_rate
        self.steps = 0

    def pairs(self):
        if self.param_list and isinstance(self.param_list[0], torch.Tensor):
            return [(p.data, p.grad) for p in self.param_list]
        return self.param_list

    def zero_grad(self):
        for _, grad in self.pairs():
            if grad is not None:
                grad.zero_()

    def step(self):
        with torch.no_grad():
            for param, grad in self.pairs():
                if grad is not None:
                    param -= self.learn_rate * grad
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


class ScriptedOptimizer(ProbeSGD):
    """Sets the parameters to the next entry of ``script`` on every step, whatever the gradients."""

    def __init__(self, params, script):
        super().__init__(params, learn_rate=0.0)
        self.script = script

    def step(self):
        if self.steps >= len(self.script):
            raise StudentError(f"the trainer took more optimizer steps than the {len(self.script)} expected")
        with torch.no_grad():
            for (param, _), value in zip(self.pairs(), self.script[self.steps]):
                param.copy_(value)
        self.steps += 1


def _trainer(kind, w, b, make_optimizer):
    """The student's trainer of the given kind around a trusted model, loss and optimizer."""
    cls = student_class(kind, module="hw.training")
    if kind == "LayerTrainer":
        model = ProbeLinear(w, b)
        optimizer = make_optimizer(model.params())
        return cls(model, ProbeCrossEntropy(), optimizer), model, optimizer
    model = ProbeTorchLinear(w, b)
    optimizer = make_optimizer(list(model.parameters()))
    return cls(model, torch.nn.CrossEntropyLoss(), optimizer, device="cpu"), model, optimizer


def _weights(model):
    if isinstance(model, ProbeLinear):
        return [plain_tensor(model.w, "the weights"), plain_tensor(model.b, "the bias")]
    return [plain_tensor(model.linear.weight, "the weights"), plain_tensor(model.linear.bias, "the bias")]


def _loader(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def _epoch_result(result, what):
    losses, accuracy = getattr(result, "losses", None), getattr(result, "accuracy", None)
    if losses is None or accuracy is None:
        raise StudentError(f"{what} returned {type(result).__name__}, expected an EpochResult")
    return {"losses": [float(loss) for loss in losses], "accuracy": float(accuracy)}


def trainer_epoch(kind, w, b, x, y, batch_size, learn_rate, train=True, max_batches=None):
    """
    One train_epoch (or test_epoch) of the student's trainer on a trusted linear
    model trained by plain SGD. Returns the EpochResult's losses and accuracy
    and the weights after the epoch.
    """
    trainer, model, optimizer = _trainer(kind, w, b, lambda params: ProbeSGD(params, learn_rate))
    kwargs = {"verbose": False}
    if max_batches is not None:
        kwargs["max_batches"] = max_batches
    method = "train_epoch" if train else "test_epoch"
    result = getattr(trainer, method)(_loader(x, y, batch_size), **kwargs)
    return {**_epoch_result(result, f"{kind}.{method}"), "weights": _weights(model)}


def trainer_fit(kind, w, b, train, test, batch_size, script, num_epochs, early_stopping=None, checkpoint=False):
    """
    The student's fit() on a trusted linear model whose parameters after each
    optimizer step are ``script[step]``. With ``checkpoint``, fit() saves into
    a fresh folder. Returns the FitResult, the final weights and the
    optimizer's step count (restored with the checkpoint).
    """
    trainer, model, optimizer = _trainer(kind, w, b, lambda params: ScriptedOptimizer(params, script))
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = os.path.join(folder, "best") if checkpoint else None
        result = trainer.fit(
            _loader(*train, batch_size),
            _loader(*test, batch_size),
            num_epochs,
            checkpoints=checkpoints,
            early_stopping=early_stopping,
            print_every=num_epochs + 1,
        )
    fields = ("num_epochs", "train_loss", "train_acc", "test_loss", "test_acc")
    if not all(hasattr(result, name) for name in fields):
        raise StudentError(f"{kind}.fit returned {type(result).__name__}, expected a FitResult")
    fit = {name: [float(v) for v in getattr(result, name)] for name in fields[1:]}
    fit["num_epochs"] = int(result.num_epochs)
    return {"fit": fit, "weights": _weights(model), "steps": optimizer.steps}


PROBES.update({f.__name__: f for f in (optimizer_steps, optimizer_zero_grad, trainer_epoch, trainer_fit)})

"""
Trusted probes of Part 4 (architectures and classifiers): the networks' structure and passes, the classifiers'
thresholds, and YourCNN trained on the grader's images under the grader's rules.

Sent to the worker after probes.py and run in the same module: it uses
probes.py's helpers and adds its probes to PROBES. Like probes.py, it
imports nothing else of the repository.
"""
import contextlib
import numbers
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# In the worker, "probes" is the module this text runs in (course/grading/worker.py, load_probes).
from probes import PROBES, StudentError, plain_tensor, student_class, student_function, tensors_in


# -- Part 4: architectures and classifiers --------------------------------------------

ARCHITECTURE_PARTS = ("feature_extractor", "classifier", "main_path", "shortcut_path")


def _describe(module):
    """The layer class names of each part the skeleton names, and the state dict's shapes."""
    parts = {}
    for part in ARCHITECTURE_PARTS:
        sub = getattr(module, part, None)
        if isinstance(sub, torch.nn.Sequential):
            parts[part] = [type(layer).__name__ for layer in sub]
        elif isinstance(sub, torch.nn.Module):
            parts[part] = [type(sub).__name__]
    shapes = {str(k): [int(s) for s in v.shape] for k, v in module.state_dict().items()}
    return {"parts": parts, "state_shapes": shapes,
            "num_parameters": int(sum(p.numel() for p in module.parameters()))}  # fmt: skip


def architecture_pass(cls, kwargs, state=None, x=None, dout=None):
    """
    hw.cnn's ``cls(**kwargs)``: its structure (layer class names of each named
    part, state dict shapes, parameter count); with ``state``, that state dict
    loaded (strictly) and, with ``x``, its output in eval mode; with ``dout``
    also the gradient of <output, dout> with respect to x.
    """
    module = student_class(cls, module="hw.cnn")(**kwargs)
    if not isinstance(module, torch.nn.Module):
        raise StudentError(f"{cls} is not a torch.nn.Module")
    result = _describe(module)
    if state is None:
        return result
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split()).replace(f"Error(s) in loading state_dict for {type(module).__name__}: ", "")
        raise StudentError(f"{cls}: the parameters do not match the architecture: {detail[:400]}") from None
    module.eval()
    x = x.clone().requires_grad_(dout is not None)
    with torch.set_grad_enabled(dout is not None):
        out = module(x)
    if not isinstance(out, torch.Tensor):
        raise StudentError(f"{cls}.forward returned {type(out).__name__}, expected a tensor")
    result["out"] = plain_tensor(out, f"{cls}.forward")
    if dout is not None:
        if tuple(out.shape) != tuple(dout.shape):
            raise StudentError(f"{cls}.forward returned shape {tuple(out.shape)}, expected {tuple(dout.shape)}")
        out.backward(dout)
        if x.grad is None:
            raise StudentError(f"{cls}: no gradient reached the input")
        result["dx"] = plain_tensor(x.grad, f"{cls}: input gradient")
    return result


def construction_error(cls, kwargs):
    """The exception hw.cnn's ``cls(**kwargs)`` raises, as (type name, message), or None."""
    try:
        student_class(cls, module="hw.cnn")(**kwargs)
    except StudentError:
        raise
    except Exception as exc:  # noqa: BLE001 - which exception is the answer
        return [type(exc).__name__, str(exc)[:300]]
    return None


def classifier_pass(cls, kwargs, scores):
    """
    hw.classifier's ``cls(nn.Identity(), **kwargs)`` on ``scores`` used as the
    model's output: predict_proba and classify.
    """
    classifier = student_class(cls, module="hw.classifier")(torch.nn.Identity(), **kwargs)
    y_proba = classifier.predict_proba(scores.clone())
    y_pred = classifier.classify(scores.clone())
    return {"proba": plain_tensor(y_proba, f"{cls}.predict_proba"), "pred": plain_tensor(y_pred, f"{cls}.classify")}


def roc_threshold(scores, y, positive_class):
    """select_roc_thresh on a BinaryClassifier whose model outputs ``scores`` (N, 2) as they are."""
    binary = student_class("BinaryClassifier", module="hw.classifier")(torch.nn.Identity(), positive_class=positive_class)
    select = student_function("select_roc_thresh", "hw.classifier")
    thresh = select(binary, scores.clone(), y.clone())
    try:
        return float(thresh)  # a Python, numpy or one-element torch number
    except (TypeError, ValueError):
        raise StudentError(f"select_roc_thresh returned {type(thresh).__name__}, expected a float") from None


class CountWork(TorchDispatchMode):
    """Counts the elements that PyTorch's operators produce: the work done, whatever operators did it."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.elements += sum(t.numel() for t in tensors_in((out,), None))
        return out


@contextlib.contextmanager
def parameters_unchanged(model):
    """
    Refuses a forward pass that changes the network's parameters or gives it
    hooks: their values are compared (a write through ``.data`` leaves the
    version counter as it was), and a hook would show the network the
    gradient of the loss, and so the labels.
    """
    before = [(p, p.detach().clone()) for p in model.parameters()]
    yield
    after = list(model.parameters())
    if len(after) != len(before) or any(p is not q or not torch.equal(p.detach(), v) for (q, v), p in zip(before, after)):
        raise StudentError("YourCNN.forward changed the network's parameters: only the recipe's optimizer may train it")
    check_no_hooks(model)


class OwnValues(TorchDispatchMode):
    """
    Counts the values a forward pass computes with that come neither from its
    input, the network's parameters and buffers, nor from operators run in this
    pass on those: tensors kept elsewhere (a dict, a global, a closure), tensors
    made from Python data (``torch.tensor([...])``), and numbers handed to the
    operators. A network is its parameters: weights trained elsewhere and
    carried beside them would be knowledge the recipe did not teach it.
    """

    def __init__(self, model, inputs):
        super().__init__()
        self.own = {}  # id -> weak reference: an id alone could be reused by a tensor made after one is freed
        for tensor in (*model.parameters(), *model.buffers(), *inputs):
            self.note(tensor)
        self.outside_elements = 0
        self.numbers = 0

    def note(self, tensor):
        self.own[id(tensor)] = weakref.ref(tensor)

    def is_own(self, tensor) -> bool:
        ref = self.own.get(id(tensor))
        return ref is not None and ref() is tensor

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for value in (*args, *(kwargs or {}).values()):
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, torch.Tensor) and not self.is_own(item):
                    self.outside_elements += item.numel()
                    self.note(item)  # counted once
                elif isinstance(item, numbers.Number):
                    self.numbers += 1
        out = func(*args, **(kwargs or {}))
        for tensor in tensors_in((out,), None):
            if func in MADE_FROM_PYTHON_DATA:
                self.outside_elements += tensor.numel()
            self.note(tensor)
        return out


MADE_FROM_PYTHON_DATA = {torch.ops.aten.lift_fresh.default, torch.ops.aten.lift_fresh_copy.default}
# Per forward pass. The course's networks take none of the first and 50-120 numbers (strides, eps, a slope).
OUTSIDE_ELEMENTS_LIMIT = 256
NUMBERS_LIMIT = 1024


@contextlib.contextmanager
def own_values_only(model, images):
    """Refuses a forward pass of ``model`` on ``images`` that computes with more values of its own than OwnValues allows."""
    with OwnValues(model, [images]) as values:
        yield
    if values.outside_elements > OUTSIDE_ELEMENTS_LIMIT:
        raise StudentError(f"YourCNN.forward computed with {values.outside_elements:,} values that are neither its input "
                           f"nor its parameters or buffers (at most {OUTSIDE_ELEMENTS_LIMIT}): tensors kept outside the "
                           "network or made from Python data are values the recipe does not train")  # fmt: skip
    if values.numbers > NUMBERS_LIMIT:
        raise StudentError(f"YourCNN.forward handed {values.numbers:,} Python numbers to PyTorch's operators in one pass "
                           f"(at most {NUMBERS_LIMIT}): a network computes with its parameters, not with numbers "
                           "written in its code")  # fmt: skip


def check_no_hooks(model):
    hooked = [name or "YourCNN" for name, m in model.named_modules()
              if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks]  # fmt: skip
    if hooked:
        raise StudentError(f"YourCNN has hooks ({', '.join(hooked[:3])}): a network learns from the recipe's optimizer alone")


def forward_work(model, images):
    """
    The work of a forward pass of ``model`` on one image, the median over
    ``images`` (images the network trains on: work it burnt on them would
    slow its training as much), measured without changing the model or the
    random state.
    """
    state, training = torch.random.get_rng_state(), model.training
    model.eval()
    counts = []
    try:
        for image in images:
            image = image[None].clone()
            with torch.no_grad(), CountWork() as work, parameters_unchanged(model), own_values_only(model, image):
                model(image)
            counts.append(work.elements)
    finally:
        model.train(training)
        torch.random.set_rng_state(state)
    return sorted(counts)[len(counts) // 2]


def checked_forward(model, images):
    """``model(images)`` computing with its input, parameters and buffers alone (own_values_only)."""
    with own_values_only(model, images):
        return model(images)


def predictions_untrained(model, test_x):
    """The labels the network predicts in evaluation mode, without changing it or the random state."""
    state = torch.random.get_rng_state()
    model.eval()
    try:
        with torch.no_grad(), parameters_unchanged(model):
            predictions = torch.cat([checked_forward(model, chunk).argmax(dim=1) for chunk in test_x.split(200)])
    finally:
        torch.random.set_rng_state(state)
    return plain_tensor(predictions, "YourCNN's predictions before training")


def check_no_pretraining(model, construction, images):
    """A network's constructor makes its parameters and may run a forward pass or two: it does not train the network."""
    num_parameters, per_image = sum(p.numel() for p in model.parameters()), forward_work(model, images)
    allowed = 16 * per_image + 64 * num_parameters + 1_000_000
    if construction.elements > allowed:
        raise StudentError(f"YourCNN's constructor computed {construction.elements:,} tensor elements, more than 16 "
                           f"forward passes of one image ({per_image:,} each) and initialising {num_parameters:,} "
                           "parameters need: a network must not train itself before the recipe trains it")  # fmt: skip


def yourcnn_train(in_size, num_classes, train_x, train_y, test_x, epochs, batch_size, lr, seed):
    """
    YourCNN(in_size, num_classes) trained with the fixed recipe (Adam, cross
    entropy, shuffled batches); returns its predicted labels of test_x and the
    number of parameters. The harness holds the test labels (and numbers the
    classes as it chooses: train_y need not follow hw.data.SHAPE_CLASSES).
    """
    check_random_start(in_size, num_classes, train_x[:3], seed)
    torch.manual_seed(seed)
    model = built_yourcnn(in_size, num_classes, train_x[:3])
    before = predictions_untrained(model, test_x)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train_x), generator=order).split(batch_size):
            optimizer.zero_grad()  # before the forward pass: it sees no gradient of the last batch
            with parameters_unchanged(model):
                scores = checked_forward(model, train_x[batch])
            if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (len(batch), num_classes):
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
                raise StudentError(f"YourCNN.forward returned {got}, expected shape ({len(batch)}, {num_classes})")
            loss = torch.nn.functional.cross_entropy(scores, train_y[batch])
            loss.backward()
            optimizer.step()
    check_no_hooks(model)
    # A network is its parameters: a new YourCNN given the trained state dict is what is graded, so that nothing the
    # trained object keeps beside them (a counter of the batches it saw, say) changes its answers. A second new one,
    # untrained, must still be near chance now that training has run.
    trained = built_yourcnn(in_size, num_classes, train_x[:3])
    try:
        trained.load_state_dict(model.state_dict())
    except (RuntimeError, KeyError, TypeError) as exc:
        raise StudentError(f"a new YourCNN does not take the trained one's state dict: {str(exc)[:300]}") from None
    predictions = predictions_untrained(trained, test_x)
    after = predictions_untrained(built_yourcnn(in_size, num_classes, train_x[:3]), test_x)
    return {"pred": plain_tensor(predictions, "YourCNN's predictions"), "pred_before": before,
            "pred_untrained_after": after, "num_parameters": int(sum(p.numel() for p in model.parameters()))}  # fmt: skip


def built_yourcnn(in_size, num_classes, images):
    """YourCNN(in_size, num_classes), built without training itself (check_no_pretraining on ``images``)."""
    with CountWork() as construction:
        model = student_class("YourCNN", module="hw.cnn")(tuple(in_size), num_classes)
    if not isinstance(model, torch.nn.Module):
        raise StudentError("YourCNN is not a torch.nn.Module")
    check_no_hooks(model)
    check_no_pretraining(model, construction, images)
    check_buffers(model)
    return model


def check_buffers(model):
    """A network's buffers are the running statistics of torch.nn's layers, never values a class of its own keeps."""
    for name, module in model.named_modules():
        own = [b for b, value in module.named_buffers(recurse=False) if value is not None]
        if own and not type(module).__module__.startswith("torch.nn."):
            raise StudentError(f"YourCNN keeps buffers of its own ({name or 'YourCNN'}.{own[0]}): only torch.nn's layers' "
                               "running statistics may be buffers (values the recipe does not train are not a network)")  # fmt: skip


def drawn_parameters(in_size, num_classes, images, seed):
    """The parameters of a YourCNN built after torch.manual_seed(seed), by name."""
    torch.manual_seed(seed)
    return {name: p.detach().clone() for name, p in built_yourcnn(in_size, num_classes, images).named_parameters()}


def check_random_start(in_size, num_classes, images, seed):
    """
    A network starts from values drawn at random: built under two seeds, every
    parameter that is not a constant (zeros, ones) differs. Values written in
    the code (weights trained elsewhere) are the same whatever the seed.
    """
    first, second = (drawn_parameters(in_size, num_classes, images, s) for s in (seed + 1, seed + 2))
    pairs = [(name, a, second[name]) for name, a in first.items() if name in second and second[name].shape == a.shape
             and a.numel() > 1 and not bool((a == a.flatten()[0]).all())]  # fmt: skip
    # Tensors of a few elements (a bias of 6) correlate by chance: each tensor is judged from SAME_START_MIN elements,
    # and all of them together (the knowledge could be spread over small ones).
    judged = [(name, a, b) for name, a, b in pairs if a.numel() >= SAME_START_MIN]
    if pairs:
        judged.append(("parameters, all together,", torch.cat([a.flatten() for _, a, _ in pairs]),
                       torch.cat([b.flatten() for _, _, b in pairs])))  # fmt: skip
    for name, a, b in judged:
        if same_start(a, b):
            verb = "start" if name.endswith(",") else "starts"
            raise StudentError(f"YourCNN's {name} {verb} from the same values whatever the random seed: a network "
                               "starts from random values and learns from the recipe's training alone")  # fmt: skip


def same_start(a, b) -> bool:
    """
    Whether two builds' values of one parameter are the same values, in any
    order: correlated element by element (the same weights), the same multiset
    (the weights with their channels shuffled, in every layer), or, for a
    weight, rows that each correlate with a row of the other build (the first
    layer's filters shuffled, and changed a little).
    """
    a, b = a.double(), b.double()
    flat_a, flat_b = a.flatten() - a.mean(), b.flatten() - b.mean()
    norms = flat_a.norm() * flat_b.norm()
    if norms > 0 and abs(float(flat_a @ flat_b / norms)) > SAME_START:
        return True
    if torch.allclose(a.flatten().sort().values, b.flatten().sort().values, rtol=1e-5, atol=1e-8):
        return True
    if a.dim() < 2 or a[0].numel() < SAME_ROW_MIN or a.shape[0] < 2:
        return False
    rows_a, rows_b = a.flatten(1), b.flatten(1)
    rows_a = rows_a - rows_a.mean(dim=1, keepdim=True)
    rows_b = rows_b - rows_b.mean(dim=1, keepdim=True)
    rows_a = rows_a / rows_a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rows_b = rows_b / rows_b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    best = (rows_a @ rows_b.T).abs().amax(dim=1)  # each row's closest row of the other build
    return float(best.mean()) > SAME_ROWS


SAME_START = 0.5  # correlation of two random initialisations: about 0, with a spread of 1/sqrt(elements)
SAME_START_MIN = 256  # elements: two random draws correlate above 0.5 once in ~10^15 (8 standard deviations)
# Rows of at least SAME_ROW_MIN values (a filter of 3 channels of 3x3 is 27): the closest of F random rows of d values
# correlates about sqrt(2 ln(2F) / d) with a given row (0.6 for 64 filters of 27), rows of shuffled copies 1.
SAME_ROW_MIN = 27
SAME_ROWS = 0.9


PROBES.update({f.__name__: f for f in (architecture_pass, construction_error, classifier_pass, roc_threshold, yourcnn_train)})

"""
Hidden tests for Part 2: the hand-written optimizers.

References are computed here. Where our update rule is the one torch
implements, the reference is torch.optim itself: VanillaSGD is SGD with
weight_decay=reg, Adam is Adam with weight_decay=reg (L2 added to the
gradient, as ours). RMSProp differs from torch.optim.RMSprop (eps inside the
square root), and MomentumSGD is written in the seed's velocity form, so both
are checked against their closed forms below.
"""
import pytest
import torch
from checks import check_close
from hw.policy import OPTIMIZER_RULE

STEPS = 5


def torch_optimizer_reference(make_optimizer, initial, grads):
    param = torch.nn.Parameter(initial.clone())
    optimizer = make_optimizer([param])
    after = []
    for g in grads:
        param.grad = g.clone()
        optimizer.step()
        after.append(param.detach().clone())
    return after


def vanilla_sgd_reference(initial, grads, learn_rate, reg):
    return torch_optimizer_reference(lambda ps: torch.optim.SGD(ps, lr=learn_rate, weight_decay=reg), initial, grads)


def adam_reference(initial, grads, learn_rate, reg, beta1, beta2, eps):
    return torch_optimizer_reference(
        lambda ps: torch.optim.Adam(ps, lr=learn_rate, betas=(beta1, beta2), eps=eps, weight_decay=reg), initial, grads
    )


def momentum_reference(initial, grads, learn_rate, reg, momentum):
    p, v, after = initial.clone(), torch.zeros_like(initial), []
    for g in grads:
        v = momentum * v - learn_rate * (g + reg * p)
        p = p + v
        after.append(p)
    return after


def rmsprop_reference(initial, grads, learn_rate, reg, decay, eps):
    p, r, after = initial.clone(), torch.zeros_like(initial), []
    for g in grads:
        g = g + reg * p
        r = decay * r + (1 - decay) * g * g
        p = p - learn_rate * g / torch.sqrt(r + eps)
        after.append(p)
    return after


# Hyper-parameters away from the defaults, so that ignoring an argument shows.
OPTIMIZERS = {
    "VanillaSGD": (dict(learn_rate=0.1, reg=0.05), vanilla_sgd_reference),
    "MomentumSGD": (dict(learn_rate=0.05, reg=0.01, momentum=0.8), momentum_reference),
    "RMSProp": (dict(learn_rate=0.01, reg=0.02, decay=0.9, eps=1e-6), rmsprop_reference),
    "Adam": (dict(learn_rate=0.01, reg=0.03, beta1=0.8, beta2=0.95, eps=1e-6), adam_reference),
}


def problem():
    """A parameter and a gradient per step; float64, so only the algorithm can make a difference."""
    initial = torch.randn(20, 10, dtype=torch.float64)
    grads = [torch.randn(20, 10, dtype=torch.float64) for _ in range(STEPS)]
    return initial, grads


FORMS = {"tuples": "a (tensor, gradient) pair", "tensors": "an nn.Parameter"}


def check_optimizer_steps(worker, from_scratch, cls, form):
    """Five steps of the student's optimizer on a parameter in ``form``, step by step against the reference."""
    from_scratch(OPTIMIZER_RULE, cls)
    kwargs, reference = OPTIMIZERS[cls]
    initial, grads = problem()
    result = worker.call("optimizer_steps", cls=cls, kwargs=kwargs, initial=initial, grads=grads, form=form)
    what = FORMS[form]
    if result["after"] and torch.equal(result["after"][-1], initial):
        raise AssertionError(
            f"{cls}: the parameter ({what}) is unchanged after {STEPS} steps; "
            "update it in place (p -= ...), not by assigning a new tensor (p = p - ...)"
        )
    for step, (got, want) in enumerate(zip(result["after"], reference(initial, grads, **kwargs)), start=1):
        check_close(f"{cls}: parameter ({what}) after step {step}", got, want, atol=1e-9, rtol=1e-7)


@pytest.mark.points(2)
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_optimizer_steps_layer_params(worker, from_scratch, cls):
    """Five steps on a (tensor, gradient) pair from our Layers, with L2 regularization, against the reference"""
    check_optimizer_steps(worker, from_scratch, cls, "tuples")


@pytest.mark.points(1)
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_optimizer_steps_torch_params(worker, from_scratch, cls):
    """Five steps on an nn.Parameter whose gradient is in .grad, against the reference"""
    check_optimizer_steps(worker, from_scratch, cls, "tensors")


@pytest.mark.points(1)
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_step_leaves_gradient_alone(worker, from_scratch, cls):
    """step() adds the L2 term to its own copy of the gradient, never to the model's gradient tensor"""
    from_scratch(OPTIMIZER_RULE, cls)
    kwargs, reference = OPTIMIZERS[cls]
    initial, grads = problem()
    result = worker.call("optimizer_steps", cls=cls, kwargs=kwargs, initial=initial, grads=grads[:2], form="tuples")
    # A step that does nothing leaves the gradient alone too: this counts only for a step that updates as it should.
    for step, (got, want) in enumerate(zip(result["after"], reference(initial, grads[:2], **kwargs)), start=1):
        check_close(f"{cls}: parameter after step {step} (this check counts only for a correct step)", got, want,
                    atol=1e-9, rtol=1e-7)  # fmt: skip
    for step, (got, given) in enumerate(zip(result["grads_after"], grads[:2]), start=1):
        if not torch.equal(got, given):
            raise AssertionError(
                f"{cls}.step() changed the gradient tensor (step {step}, largest change "
                f"{(got - given).abs().max().item():.4g}); compute dp + reg * p into a new tensor"
            )


@pytest.mark.points(1)
@pytest.mark.parametrize("form", ["tuples", "tensors"])
def test_zero_grad(worker, form):
    """zero_grad() zeroes each gradient in place, for both parameter forms"""
    initial, grad = torch.randn(6, 4), torch.randn(6, 4)
    result = worker.call("optimizer_zero_grad", cls="VanillaSGD", kwargs={"learn_rate": 0.1, "reg": 0.0},
                         initial=initial, grad_value=grad, form=form)  # fmt: skip
    if not bool(result["original"].eq(0).all()):
        raise AssertionError(
            f"zero_grad() ({FORMS[form]}) left the model's gradient tensor as it was; zero it in place (dp.zero_())"
        )
    check_close(f"the gradient after zero_grad() ({form})", result["held"], torch.zeros(6, 4), atol=0, rtol=0)

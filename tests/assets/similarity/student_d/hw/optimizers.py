"""
Gradient-based optimizers, written by hand.

An optimizer holds a list of parameters and, on ``step()``, updates each one
*in place* from its gradient: ``p -= ...`` on the very tensor the model uses,
never ``p = p - ...`` (that would create a new tensor the model never sees).

Every optimizer adds an L2 penalty ``R(p) = reg / 2 * ||p||^2`` to the loss, so
the gradient it uses is ``g = dp + reg * p``. It does not modify ``dp`` itself:
the gradients belong to the model.

Parameters come in either of two forms:
- ``(tensor, gradient)`` tuples, as returned by our Layers' ``params()``;
- tensors whose gradient is in ``.grad``, as in ``nn.Module.parameters()``.
"""
import abc

import torch


class Optimizer(abc.ABC):
    """
    Base class of the optimizers.

    Inputs:
    - params: a list of ``(tensor, gradient)`` tuples (our Layers) or of
      tensors with ``.grad`` (torch modules).
    - learn_rate: the step size; ``StepDecay`` changes it between epochs.
    """

    def __init__(self, params, learn_rate: float):
        params = list(params)
        if not params:
            raise ValueError("the optimizer got an empty list of parameters")
        for i, p in enumerate(params):
            if not isinstance(p, torch.Tensor) and not (isinstance(p, (tuple, list)) and len(p) == 2):
                raise TypeError(f"parameter {i} is a {type(p).__name__}: expected a tensor or a (tensor, gradient) tuple")
        self._params = params
        self.learn_rate = learn_rate

    @property
    def params(self):
        """
        Returns:
        - A list of ``(parameter, gradient)`` tuples of plain tensors, updated
          in place by ``step()``. The gradient is None for a torch parameter
          that has not received one yet.
        """
        pairs = []
        for p in self._params:
            if isinstance(p, torch.Tensor):
                pairs.append((p.data, None if p.grad is None else p.grad.data))
            else:
                pairs.append((p[0], p[1]))
        return pairs

    def zero_grad(self):
        """Sets every gradient to zero, in place (the model keeps references to these tensors)."""
        for dp in (g for _, g in self.params if g is not None):
            dp.zero_()

    @abc.abstractmethod
    def step(self):
        """Updates every parameter in place from its current gradient."""

    def state_dict(self):
        """The optimizer's state (learning rate and running averages), for checkpoints."""
        return {key: value for key, value in vars(self).items() if key != "_params"}

    def load_state_dict(self, state):
        """Restores a state returned by ``state_dict()``."""
        for key, value in state.items():
            setattr(self, key, value)

    def __repr__(self):
        hyper = ", ".join(f"{k}={v}" for k, v in vars(self).items() if isinstance(v, (int, float)))
        return f"{type(self).__name__}({len(self._params)} parameters, {hyper})"


class VanillaSGD(Optimizer):
    """
    Stochastic gradient descent with L2 regularization:

        g = dp + reg * p
        p <- p - learn_rate * g
    """

    def __init__(self, params, learn_rate: float = 1e-3, reg: float = 1e-3):
        super().__init__(params, learn_rate)
        self.reg = reg

    def step(self):
        for p, dp in self.params:
            if dp is None:
                continue
            p.add_(dp + self.reg * p, alpha=-self.learn_rate)


class MomentumSGD(Optimizer):
    """
    SGD with momentum, in velocity form (one velocity v per parameter, starting at 0):

        g = dp + reg * p
        v <- momentum * v - learn_rate * g
        p <- p + v
    """

    def __init__(self, params, learn_rate: float = 1e-3, reg: float = 1e-3, momentum: float = 0.9):
        super().__init__(params, learn_rate)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.reg = reg
        self.momentum = momentum
        self.velocities = [p.new_zeros(p.shape) for p, _ in self.params]

    def step(self):
        for (p, dp), v in zip(self.params, self.velocities):
            if dp is None:
                continue
            v.mul_(self.momentum).add_(dp + self.reg * p, alpha=-self.learn_rate)
            p.add_(v)


class RMSProp(Optimizer):
    """
    RMSProp: a per-element step size from a running mean of squared gradients
    (one r per parameter, starting at 0):

        g = dp + reg * p
        r <- decay * r + (1 - decay) * g^2
        p <- p - learn_rate * g / sqrt(r + eps)
    """

    def __init__(self, params, learn_rate: float = 1e-3, reg: float = 1e-3, decay: float = 0.99, eps: float = 1e-8):
        super().__init__(params, learn_rate)
        self.reg = reg
        self.decay = decay
        self.eps = eps
        self.squares = [p.new_zeros(p.shape) for p, _ in self.params]

    def step(self):
        for (p, dp), r in zip(self.params, self.squares):
            if dp is None:
                continue
            g = dp + self.reg * p
            r.mul_(self.decay).addcmul_(g, g, value=1 - self.decay)
            p.addcdiv_(g, (r + self.eps).sqrt(), value=-self.learn_rate)


class Adam(Optimizer):
    """
    Adam: momentum and RMSProp together, with bias correction (m and v start
    at 0; t counts the steps, starting at 1):

        g = dp + reg * p
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        p <- p - learn_rate * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(
        self,
        params,
        learn_rate: float = 1e-3,
        reg: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        super().__init__(params, learn_rate)
        self.reg = reg
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.steps = 0
        self.moments = [(p.new_zeros(p.shape), p.new_zeros(p.shape)) for p, _ in self.params]

    def step(self):
        self.steps += 1
        c1, c2 = 1 - self.beta1 ** self.steps, 1 - self.beta2 ** self.steps
        for (p, dp), (m, v) in zip(self.params, self.moments):
            if dp is None:
                continue
            g = dp + self.reg * p
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            p.addcdiv_(m / c1, (v / c2).sqrt() + self.eps, value=-self.learn_rate)


class StepDecay:
    """
    Multiplies the learning rate by ``gamma`` every ``step_size`` epochs.

    Works with our optimizers (``learn_rate``) and with torch optimizers (the
    ``lr`` of every parameter group). Call ``step()`` once at the end of each epoch.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"step_size must be at least 1, got {step_size}")
        self.optimizer = optimizer
        self.step_size = step_size
        self.gamma = gamma
        self.epoch = 0

    def step(self):
        self.epoch += 1
        if self.epoch % self.step_size:
            return
        if isinstance(self.optimizer, torch.optim.Optimizer):
            for group in self.optimizer.param_groups:
                group["lr"] *= self.gamma
        else:
            self.optimizer.learn_rate *= self.gamma

    @property
    def learn_rate(self):
        if isinstance(self.optimizer, torch.optim.Optimizer):
            return self.optimizer.param_groups[0]["lr"]
        return self.optimizer.learn_rate

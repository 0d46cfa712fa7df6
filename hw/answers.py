"""
Written answers and chosen hyper-parameters.

Each question is a function that returns your answer as a Markdown string
(LaTeX between $...$ works). The notebooks display them with
``display_answer``; your course staff read and grade them by hand.
"""


def part1_q1():
    """
    Part 1, question 1: a Linear layer with in_features=1024 and
    out_features=512 is applied to a batch X of N=64 samples, giving Y.

    For the Jacobian dY/dX: (A) what is its shape? (B) is it sparse, and which
    elements are zero? (C) do we need to materialise it to compute dL/dX from
    dL/dY? If not, how is dL/dX computed?
    Then answer A-C again for the Jacobian dY/dW.
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
**dY/dX.**
A. $Y$ is $(64, 512)$ and $X$ is $(64, 1024)$, so the Jacobian is $(64, 512, 64, 1024)$.

B. Yes. Output row $i$ depends only on input row $i$: $\partial Y_{i,j} / \partial X_{k,l} = W_{j,l}$ if $k = i$
and $0$ otherwise. Only the 64 diagonal blocks $k = i$ are non-zero, a fraction $1/64$ of the entries.

C. No. By the chain rule $\delta X = \delta Y \, W$, a $(64, 512) \times (512, 1024)$ product.

**dY/dW.**
A. $W$ is $(512, 1024)$, so the Jacobian is $(64, 512, 512, 1024)$.

B. Yes. $\partial Y_{i,j} / \partial W_{k,l} = X_{i,l}$ if $k = j$ and $0$ otherwise: output feature $j$ depends only
on row $j$ of $W$.

C. No. $\delta W = \delta Y^\top X$, a $(512, 64) \times (64, 1024)$ product.
"""
    ### END SOLUTION


def part1_q2():
    """
    Part 1, question 2: is back-propagation required in order to train neural
    networks with descent-based optimization? Why or why not?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    ### BEGIN SOLUTION
    return r"""
No. Descent methods need the gradient of the loss, not a particular way of computing it. It can be
estimated with finite differences (two forward passes per parameter), computed with forward-mode
automatic differentiation (one pass per parameter), or avoided altogether with zeroth-order methods.
Back-propagation (reverse-mode differentiation) is what makes training *practical*: it yields the
gradient with respect to all parameters at a cost of a small constant times one forward pass,
whereas the alternatives cost a forward pass per parameter, millions of passes for a modern network.
"""
    ### END SOLUTION


def display_answer(answer_fn):
    """
    Renders the Markdown returned by ``answer_fn`` in a notebook, or says
    that the question is still unanswered.
    """
    from IPython.display import Markdown, display

    try:
        text = answer_fn()
    except NotImplementedError:
        text = f"*`{answer_fn.__name__}` is not answered yet: edit it in `hw/answers.py`.*"
    display(Markdown(text))

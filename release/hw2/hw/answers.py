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
    raise NotImplementedError()


def part1_q2():
    """
    Part 1, question 2: is back-propagation required in order to train neural
    networks with descent-based optimization? Why or why not?
    """
    # TODO: Replace the exception with `return r"""your answer"""`.
    raise NotImplementedError()


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

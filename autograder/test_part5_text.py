"""
Hidden tests for Part 5's text CNN (hw/text.py).

The reference is written here with torch.nn.functional from the docstring:
embedding -> Conv1d(stride) -> ReLU -> max over time -> linear, with one
explicit state dict loaded into both it and the student's TextCNN.
"""
import pytest
import torch
import torch.nn.functional as F
from checks import check_close, check_equal, check_shape

VOCAB, EMBED, FILTERS, KERNEL, CLASSES = 50, 6, 5, 3, 6


def text_cnn_kwargs(stride):
    return dict(vocab_size=VOCAB, embed_dim=EMBED, num_filters=FILTERS, kernel_size=KERNEL, stride=stride, num_classes=CLASSES)


def tokens_batch(n, length):
    """Token ids (N, T); the last two positions of every other question are padding (id 0)."""
    tokens = torch.randint(1, VOCAB, (n, length))
    if length > 3:
        tokens[::2, -2:] = 0
    return tokens


def text_cnn_state():
    embedding = torch.randn(VOCAB, EMBED)
    embedding[0] = 0.0  # the padding id's vector, as nn.Embedding(padding_idx=0) keeps it
    return {"embedding.weight": embedding, "conv.weight": 0.3 * torch.randn(FILTERS, EMBED, KERNEL),
            "conv.bias": 0.1 * torch.randn(FILTERS), "fc.weight": 0.5 * torch.randn(CLASSES, FILTERS),
            "fc.bias": 0.1 * torch.randn(CLASSES)}  # fmt: skip


def reference_scores(state, tokens, stride):
    x = F.embedding(tokens, state["embedding.weight"]).transpose(1, 2)  # (N, E, T)
    features = F.relu(F.conv1d(x, state["conv.weight"], state["conv.bias"], stride=stride)).amax(dim=2)  # (N, F)
    return F.linear(features, state["fc.weight"], state["fc.bias"])


SHAPE_CASES = [(1, 7), (2, 12), (4, 20), (1, 2)]


@pytest.mark.points(1)
@pytest.mark.parametrize("stride, length", SHAPE_CASES, ids=[f"stride-{s}-length-{t}" for s, t in SHAPE_CASES])
def test_text_cnn_output_shape(worker, stride, length):
    """TextCNN: scores (N, num_classes) for questions (N, T), also when T is shorter than the kernel"""
    # Any tensor of zeros has the right shape: the shape counts only for a network that computes its scores from the
    # words (the values of stride 1 on these questions), whatever this case's values are.
    tokens, state = tokens_batch(4, length), text_cnn_state()
    padded = F.pad(tokens, (0, max(0, KERNEL - length)))  # shorter questions are padded with id 0 up to the kernel
    words = worker.call("text_cnn_pass", kwargs=text_cnn_kwargs(1), tokens=tokens, state=state)
    check_close(f"TextCNN(kernel_size={KERNEL}, stride=1) on tokens (4, {length}): the scores (the shape counts only for "
                "scores the network computes from the words)", words["scores"], reference_scores(state, padded, 1))  # fmt: skip
    got = worker.call("text_cnn_pass", kwargs=text_cnn_kwargs(stride), tokens=tokens)
    check_shape(f"TextCNN(kernel_size={KERNEL}, stride={stride}) on tokens (4, {length})", got["scores"], (4, CLASSES))


@pytest.mark.points(2)
@pytest.mark.parametrize("stride", [1, 2, 3], ids=lambda s: f"stride-{s}")
def test_text_cnn_values(worker, stride):
    """TextCNN: embedding -> Conv1d with the given stride -> ReLU -> max over time -> linear, with given weights"""
    state = text_cnn_state()
    tokens = tokens_batch(6, 11)
    got = worker.call("text_cnn_pass", kwargs=text_cnn_kwargs(stride), tokens=tokens, state=state)
    expected_shapes = {k: list(v.shape) for k, v in state.items()}
    check_equal("TextCNN's state dict (names and shapes)", got["state_shapes"], expected_shapes)
    check_close(f"TextCNN(kernel_size={KERNEL}, stride={stride}) scores of tokens (6, 11)", got["scores"],
                reference_scores(state, tokens, stride))  # fmt: skip

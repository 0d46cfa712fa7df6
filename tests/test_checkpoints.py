"""The solution's checkpoints keep everything a model needs: parameters and BatchNorm's running statistics."""
import torch

from hw import layers
from hw.optimizers import VanillaSGD
from hw.training import LayerTrainer


def small_cnn():
    return layers.Sequential(layers.Conv2d(3, 4, 3, padding=1), layers.BatchNorm2d(4), layers.ReLU(),
                             layers.MaxPool2d(2), layers.Flatten(), layers.Linear(4 * 4 * 4, 5))  # fmt: skip


def test_checkpoint_round_trip_keeps_batchnorm_statistics(tmp_path):
    torch.manual_seed(0)
    model = small_cnn()
    trainer = LayerTrainer(model, layers.CrossEntropyLoss(), VanillaSGD(model.params(), learn_rate=0.1), flatten=False)
    x, y = torch.randn(16, 3, 8, 8) * 3 + 1, torch.randint(0, 5, (16,))
    for _ in range(3):
        trainer.train_batch((x, y))  # moves the running statistics away from (0, 1)
    model.train(False)
    expected = model(x)
    trainer.save_checkpoint(tmp_path / "best.pt", best_test_loss=1.0)

    torch.manual_seed(1)
    fresh = small_cnn()
    restored = LayerTrainer(fresh, layers.CrossEntropyLoss(), VanillaSGD(fresh.params(), learn_rate=0.1), flatten=False)
    assert restored.load_checkpoint(tmp_path / "best.pt") == 1.0
    fresh.train(False)
    torch.testing.assert_close(fresh(x), expected, rtol=0, atol=0)
    running_mean = fresh[1].running_mean
    assert not torch.equal(running_mean, torch.zeros(4)), "the running statistics came back from the checkpoint"


def test_a_list_of_parameters_still_loads():
    """Notebooks load parameters alone (no buffers) into layers that have buffers."""
    bn = layers.BatchNorm2d(3)
    bn.load_state_dict([torch.full((3,), 2.0), torch.full((3,), -1.0)])
    assert torch.equal(bn.gamma, torch.full((3,), 2.0)) and torch.equal(bn.running_var, torch.ones(3))
    assert len(bn.state_dict()) == 4

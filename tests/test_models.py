import pytest
import torch
import torch.nn.functional as F

from digitlab.errors import ConfigError
from digitlab.models import create_model, list_models, model_entry

SEED_MODELS = ["seed-cnn", "seed-cnn3", "seed-tiny"]


def test_registry_lists_seed_models_with_descriptions():
    assert set(SEED_MODELS) <= set(list_models())
    for name in SEED_MODELS:
        assert model_entry(name).description


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'lenet9'"):
        create_model("lenet9")


@pytest.mark.parametrize("name", SEED_MODELS)
@pytest.mark.parametrize("in_channels,size,classes", [(1, 28, 10), (3, 28, 10), (3, 64, 2)])
def test_shapes_and_learning(name, in_channels, size, classes):
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, in_channels=in_channels, image_size=size)
    x = torch.randn(16, in_channels, size, size)
    y = torch.arange(16) % classes
    assert model(x).shape == (16, classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.eval()  # no dropout noise when comparing losses
    first = F.cross_entropy(model(x), y).item()
    for _ in range(25):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert F.cross_entropy(model(x), y).item() < first * 0.5

"""The model zoo. Importing a model file registers its architectures."""

from digitlab.models import (  # noqa: F401
    alexnet,
    blresnet,
    condensenet,
    conv3d,
    densenet,
    digitnet,
    inception,
    lenet,
    mobilenet,
    resnet,
    seed_cnns,
    shufflenet,
    vgg,
)
from digitlab.models.registry import create_model, list_models, model_entry, register_model

__all__ = ["create_model", "list_models", "model_entry", "register_model"]

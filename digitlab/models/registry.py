"""A registry so that every architecture is one name away (as timm's `create_model`).

Each model file decorates its factory with `@register_model("name")`; the factory's
docstring's first line is the model's description in `digitlab models`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from digitlab.errors import ConfigError

ModelFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: ModelFactory
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        description = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
        _REGISTRY[name] = ModelEntry(name, factory, description)
        return factory
    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(list_models())}") from None


def create_model(name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """Build a registered model for `in_channels` x `image_size` x `image_size` inputs."""
    return model_entry(name).factory(num_classes=num_classes, in_channels=in_channels, image_size=image_size)

"""The model zoo. Importing a model file registers its architectures."""

from digitlab.models import seed_cnns  # noqa: F401  (registers)
from digitlab.models.registry import create_model, list_models, model_entry, register_model

__all__ = ["create_model", "list_models", "model_entry", "register_model"]

"""Training: the config dataclass, the loop, checkpoints, metrics and evaluation."""

from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import Evaluation, evaluate
from digitlab.training.trainer import TrainResult, load_trained, train

__all__ = ["Evaluation", "TrainConfig", "TrainResult", "evaluate", "load_trained", "train"]

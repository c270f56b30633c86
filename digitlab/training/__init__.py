"""Training: the config and recipes, each engine's loop, the run harness they share, evaluation.

  config.py, recipes.py   what defines a run, and the settings resolved for it once, at its start
  runner.py               train(cfg): the engine's options checked, then its loop
  trainer.py              the PyTorch loop (also under torchrun: distributed.py)
  numpy_trainer.py        the NumPy engine's loop
  run.py                  the harness both loops share: run folder, metrics, epoch records, checkpoints
  evaluate.py             scoring a model on a split
  finetune.py             continuing to train a model on new data (the drawing board's corrections)
"""

from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import Evaluation, evaluate
from digitlab.training.run import TrainResult
from digitlab.training.runner import train

__all__ = ["Evaluation", "TrainConfig", "TrainResult", "evaluate", "train"]

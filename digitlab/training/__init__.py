"""Training: the config and recipes, each engine's loop, the run folder they share, evaluation.

  config.py, recipes.py   what defines a run, and the settings resolved for it once, at its start
  engines.py              train(cfg): the engine's options checked, then its loop
  resume.py               a stopped run continued with the settings its checkpoint stored
  prepare.py              the data set and splits a run trains on
  trainer.py              the PyTorch loop (also under torchrun: distributed.py)
  numpy_trainer.py        the NumPy engine's loop
  run_folder.py           the run folder both loops record to: metrics, epoch records, checkpoints
  evaluate.py             scoring a model on a split; a finished run's final scores
  calibration.py          a refusing model's threshold, set on validation non-digits
  finetune.py             continuing to train a model on new data (the drawing board's corrections)
"""

from digitlab.training.config import TrainConfig
from digitlab.training.engines import train
from digitlab.training.evaluate import Evaluation, evaluate
from digitlab.training.run_folder import TrainResult

__all__ = ["Evaluation", "TrainConfig", "TrainResult", "evaluate", "train"]

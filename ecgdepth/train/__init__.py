"""Training: state, optimiser, the one step, and the loop."""

from ecgdepth.train.loop import train_and_evaluate

__all__ = ['train_and_evaluate']

"""Checkpoints of a run: the train state, the best-so-far parameters and the loop's bookkeeping.

orbax writes each checkpoint into a temporary folder and renames it when complete, so a crash
never leaves a half checkpoint; the newest complete one is what a relaunch resumes from.
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
    """Saves and restores {'state', 'best_params'} arrays plus a JSON dict of loop metadata."""

    def __init__(self, directory: str, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, arrays: dict[str, Any], meta: dict[str, Any]) -> None:
        """Writes synchronously: when this returns, the checkpoint is complete on disk.

        A step already saved is kept as it is (the loop saves the same state there).
        """
        if step in self._manager.all_steps():
            return
        self._manager.save(
            step,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._manager.wait_until_finished()
        logging.info('Checkpoint at step %d in %s', step, self.directory)

    def restore(self, template: dict[str, Any]) -> tuple[int, dict[str, Any], dict] | None:
        """The latest checkpoint as (step, arrays shaped like `template`, meta), or None."""
        step = self.latest_step()
        if step is None:
            return None
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()
            ),
        )
        return step, restored['arrays'], restored['meta']

    def close(self) -> None:
        self._manager.close()

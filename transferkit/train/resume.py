"""The part of the training loop that makes it resumable: what a checkpoint holds, how a
run continues from one (exactly, on the same data positions and RNG states), how a finished
stage is extended by more epochs, and how a fresh start clears what an earlier run left.
:class:`~transferkit.train.trainer.Trainer` is built on it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from transferkit.train.callbacks import TrainResult
from transferkit.train.checkpoint import (
    Checkpoint,
    discard_checkpoints,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from transferkit.train.schedule import continued_factor, extension_plan


class ResumableLoop:
    """Checkpoints and resume for :class:`~transferkit.train.trainer.Trainer`, which owns
    every attribute used here (step, optimizer, scheduler, counters, run directory)."""

    def _state_json(self, position: tuple[int, int], target_position: tuple[int, int],
                    done: bool, result: TrainResult | None = None) -> dict[str, Any]:
        return {
            "stage": self.stage, "step": self.step, "epoch": position[0], "batch": position[1],
            "target_epoch": target_position[0], "target_batch": target_position[1],
            "best_metric": self.best_metric, "best_step": self.best_step,
            "best_tiebreak": self.best_tiebreak, "bad_evals": self.bad_evals, "history": self.history, "train_s": self._elapsed(),
            "loss_sum": self.loss_sum, "loss_count": self.loss_count,
            "total_steps": self.total_steps, "done": done, "extension": self.extension,
            "result": asdict(result) if result is not None else None,
            "data": self._data_position(),
        }

    def _data_position(self) -> dict[str, Any]:
        """What the data position of a checkpoint depends on: a resume needs the same."""
        return {"n_train": len(self.train_data), "batch_size": self.config.batch_size,  # type: ignore[arg-type]
                "world_size": self.world, "seed": self.seed}

    def _checkpoint(self, position: tuple[int, int], target_position: tuple[int, int],
                    done: bool = False, result: TrainResult | None = None) -> None:
        if self.ckpt_dir is None or not self.is_main:
            return
        best = self.best_state if self.best_state is not None else None
        path = save_checkpoint(self.ckpt_dir, self.step, model=self.step_module_plain.state_dict(),
                               best=best, optimizer=self.optimizer.state_dict(),
                               scheduler=self.scheduler.state_dict(), rng=rng_state(),
                               state=self._state_json(position, target_position, done, result), final=done)
        self.last_checkpoint = path

    def _restore(self, ckpt: Checkpoint) -> tuple[tuple[int, int], tuple[int, int]]:
        """Continue a checkpoint (its weights are loaded): optimiser, schedule, counters,
        metrics log and RNG; returns the data and target positions to go on from. A finished
        checkpoint that planned fewer steps than this run is extended (:meth:`_extend`)."""
        st = ckpt.state
        self.optimizer.load_state_dict(ckpt.optimizer)
        if st.get("done"):
            self._extend(st)
        else:
            self.scheduler.load_state_dict(ckpt.scheduler)
            self.extension = st.get("extension")
            if self.extension is not None:  # an extension interrupted: its own schedule goes on
                factor = continued_factor(self.config.scheduler, self.extension["steps"],
                                          self.extension["start"])
                self.scheduler.lr_lambdas = [factor] * len(self.optimizer.param_groups)
        self.step = st["step"]
        position = (st["epoch"], st["batch"])
        target_position = (st["target_epoch"], st["target_batch"])
        self.best_metric, self.best_step, self.bad_evals = st["best_metric"], st["best_step"], st["bad_evals"]
        self.best_tiebreak = dict(st.get("best_tiebreak") or {})
        self.best_state = ckpt.best
        self.history = st["history"]
        self.loss_sum, self.loss_count = st["loss_sum"], st["loss_count"]
        self._elapsed_before = st["train_s"]
        if st.get("total_steps") != self.total_steps and not st.get("done"):
            self._say(f"[{self.stage}] warning: the checkpoint planned {st.get('total_steps')} "
                      f"steps and this run plans {self.total_steps}; the schedule follows the new plan.")
        if self.metrics is not None and self.is_main:
            self.metrics.truncate_after(self.stage, self.step)
        self.last_checkpoint = ckpt.path
        set_rng_state(ckpt.rng)
        self._say(f"[{self.stage}] resumed from step {self.step} ({ckpt.path}).")
        return position, target_position

    def _extend(self, st: dict[str, Any]) -> None:
        """A new schedule for the steps a finished stage (``st``: its final checkpoint's state)
        did not plan: from the multiplier its schedule ended at, over the steps added."""
        cfg = self.config
        done_steps = int(st["step"])
        start, steps = extension_plan(cfg, st, self.total_steps, self.stage, self.extend)
        # the optimizer's state is loaded: its groups keep their 'initial_lr' (the peak rates)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, continued_factor(cfg.scheduler, steps, start))
        self.extension = {"from_step": done_steps, "steps": steps, "start": start,
                          "lr_start": {g["name"]: g["lr"] for g in self.optimizer.param_groups}}
        self._say(f"[{self.stage}] extended: {steps} more steps after step {done_steps}, a new "
                  f"{cfg.scheduler} schedule from {start:.4g} x the peak rate (where the "
                  "finished schedule ended).")

    def _start_fresh(self) -> None:
        if self.resume:
            self._say(f"[{self.stage}] no checkpoint to resume from in {self.ckpt_dir}; starting fresh.")
        if self.is_main and self.ckpt_dir is not None:
            # A fresh run replaces what an earlier run of this stage left behind, so that
            # a later --resume never picks up a stale checkpoint or duplicate metrics.
            discard_checkpoints(self.ckpt_dir)
            if self.metrics is not None:
                self.metrics.truncate_after(self.stage, 0)
        seed_everything(self.seed)


__all__ = ["ResumableLoop"]

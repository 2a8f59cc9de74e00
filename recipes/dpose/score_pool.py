"""Score an overfit run's last checkpoint on its own training pool, with BatchNorm in both modes.

A run with ``data.overfit_batches > 0`` logs ``eval_pool`` records scored with the network in eval mode
(BatchNorm normalising with its running statistics), as the recipe's ``evaluate()`` scores everything. With a
tiny batch cycling a few fixed batches the running statistics can be a poor stand-in for each batch's own, so
an eval-mode plateau may say nothing about whether the step fits the pool. This script loads the run's last
checkpoint through the recipe (on a copy of the run folder: the run itself is not touched), rebuilds the same
pool and scores it twice: ``eval`` (exactly what ``evaluate()`` logs) and ``train`` (BatchNorm on each batch's
own statistics, as the training step sees it):

    python recipes/dpose/score_pool.py runs/overfit_cpu/a_paper runs/overfit_cpu/b_dense1

``--pretrained NAME --heldout N`` scores a saved model (a built-in name or a ``save_pretrained`` folder) the
same two ways on the first N people of the held-out synthetic split of ``--config`` instead (batches of
``--batch-size``):

    python recipes/dpose/score_pool.py --pretrained dpose_efficientnet_lite0.synthetic --heldout 128

Used for docs/results.md, "CPU overfit of the dense heads".
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lib.config import TrainConfig  # noqa: E402
from train import DPoSETrainRecipe  # noqa: E402

from hpskit.core import ConfigError  # noqa: E402
from hpskit.engine import load_config  # noqa: E402
from hpskit.engine.evaluation import _gt_body, _mm  # noqa: E402
from hpskit.metrics import MetricAccumulator, smplx24_pelvis_errors  # noqa: E402
from hpskit.metrics.dense import depth_foreground_l1, mean_iou, part_confusion  # noqa: E402

KEYS = ("part_miou", "part_miou_body", "depth_l1", "mpjpe", "pa_mpjpe", "pve")


@torch.no_grad()
def score_batches(net, body, batches, train_mode: bool) -> dict[str, float]:
    """Pool metrics of ``net`` on ``batches`` with the network in training (``train_mode``) or eval mode, as
    :func:`hpskit.engine.evaluate_heldout` computes them (mm; part mIoU over 23 classes and over the 22 body
    parts; depth L1 on the ground-truth foreground). The network's mode is restored; in training mode the
    BatchNorm running statistics are updated (score a copy you do not keep)."""
    was_training = net.training
    net.train(train_mode)
    acc, inter, union, depth = MetricAccumulator(), None, None, []
    try:
        for b in batches:
            out = net(b.img, b.bbox_info)
            pred = body.forward_pose(out.pose_rotmat.float(), out.betas.float())
            gj, gv = _gt_body(body, b)
            acc.update(_mm(smplx24_pelvis_errors(pred.joints, pred.vertices, gj, gv)))
            i, u = part_confusion(out.part_logits.argmax(1), b.parts, out.part_logits.shape[1])
            inter, union = (i, u) if inter is None else (inter + i, union + u)
            depth.append(depth_foreground_l1(out.depth.float(), b.depth.float()))
    finally:
        net.train(was_training)
    res = {k: float(v) for k, v in acc.total().items()}
    res.update(part_miou=mean_iou(inter, union), part_miou_body=mean_iou(inter, union, slice(1, None)),
               depth_l1=float(torch.cat(depth).nanmean()))
    return res


def score_pool(run: Path) -> dict:
    """``{"step": last checkpoint's step, "eval": metrics, "train": metrics}`` of an overfit run folder.

    Raises:
        ConfigError: If the run did not overfit a pool or has no checkpoint.
    """
    run = Path(run)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(run, copy)
        cfg = load_config(TrainConfig, str(copy / "config.yaml"),
                          [f"output_dir={copy}", "log.progress=false", "log.tensorboard=false",
                           "checkpoint.resume=auto"])
        if not cfg.data.overfit_batches:
            raise ConfigError(f"score_pool: {run} did not overfit a pool (data.overfit_batches = 0)")
        if not list((copy / "checkpoints").glob("*.pt")):
            raise ConfigError(f"score_pool: {run} has no checkpoint to score")
        recipe = DPoSETrainRecipe(cfg)
        try:
            recipe.setup()
            recipe.stream.next()  # makes the pool (the same seeded batches the run trained on)
            pool = recipe.stream.pool
            res = {"step": recipe.step,
                   "eval": score_batches(recipe.net, recipe.body, pool, train_mode=False),
                   "train": score_batches(recipe.net, recipe.body, pool, train_mode=True)}
        finally:
            recipe.cleanup()
    return res


def score_heldout(name: str, config: Path, num_samples: int, batch_size: int) -> dict:
    """``{"step": None, "eval": metrics, "train": metrics}`` of a saved model on the first ``num_samples``
    people of ``config``'s held-out synthetic split (on the CPU, float32)."""
    from _lib.data import heldout_batches  # noqa: PLC0415

    from hpskit.models import DPoSE  # noqa: PLC0415

    net = DPoSE.from_pretrained(name).float().eval()
    cfg = load_config(TrainConfig, str(config), [])
    batches = heldout_batches(cfg.data, net.body_model, num_samples, batch_size, torch.device("cpu"))
    res = {"step": None, "eval": score_batches(net, net.body_model, batches, train_mode=False)}
    res["train"] = score_batches(net, net.body_model, batches, train_mode=True)  # updates BN stats: last
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="*", type=Path, help="run folders of overfit runs")
    p.add_argument("--pretrained", help="score this saved model on the held-out split instead")
    p.add_argument("--heldout", type=int, default=128, help="held-out people (with --pretrained)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--config", type=Path,
                   default=Path(__file__).resolve().parent / "configs" / "synthetic_compact.yaml",
                   help="recipe config whose data section defines the held-out split (with --pretrained)")
    a = p.parse_args(argv)
    if bool(a.runs) == bool(a.pretrained):
        p.error("give overfit run folders, or --pretrained NAME (not both)")
    print("| run | step | BatchNorm | " + " | ".join(KEYS) + " |")
    print("|---|---:|---|" + "---:|" * len(KEYS))
    jobs = [(r.name, lambda r=r: score_pool(r)) for r in a.runs] or [
        (a.pretrained, lambda: score_heldout(a.pretrained, a.config, a.heldout, a.batch_size))]
    for label, job in jobs:
        res = job()
        for mode in ("eval", "train"):
            cells = [f"{res[mode][k]:.4f}" if k in ("part_miou", "part_miou_body", "depth_l1")
                     else f"{res[mode][k]:.1f}" for k in KEYS]
            print(f"| {label} | {res['step'] or '–'} | {mode} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

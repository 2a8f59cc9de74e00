"""``hpskit predict`` on a video (``clip.mp4`` or a folder of frames), and the ``--export`` meshes of images.

:func:`add_arguments` adds the options to ``hpskit predict``'s parser; ``predict.run`` hands a video
input to :func:`run` and calls :func:`export_meshes` after each image.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hpskit.core import ConfigError

from ._common import CLIError, load_model, resolve_device

logger = logging.getLogger("hpskit.cli")

VIDEO_HELP = """\
Videos: IMAGE may be one video file (.mp4, .avi, .mov, .mkv, .webm, ...) or a folder of frames. People
are found in every frame by the built-in detector, tracked across frames (ids kept when they cross),
and their pose, shape and translation smoothed over time (--no-smooth for the raw predictions). Writes
to --out, per video STEM: STEM_overlay.mp4 (meshes and track ids over the frames) and per track
STEM_track{ID}.npz (per-frame SMPL-X parameters), STEM_track{ID}.glb (animated, skinned body) and
STEM_track{ID}.bvh (skeleton motion). Choose with --video-outputs.
"""

_MESH_CHOICES = ("obj", "ply", "glb")
_VIDEO_CHOICES = ("overlay", "npz", "glb", "bvh")


def _formats(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = [v.strip().lower().lstrip(".") for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)} (comma-separated); "
                                             f"got {text!r}")
        return values

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--export`` option of images and the video options."""
    p.add_argument("--export", type=_formats(_MESH_CHOICES), default=[], metavar="obj,ply,glb",
                   help="also write meshes per image: STEM_person{K}.obj / .ply per person and STEM.glb "
                        "(every person and the camera, opens in Blender or a web viewer)")
    g = p.add_argument_group("video (IMAGE is a video file or a folder of frames)")
    g.add_argument("--fps", type=float, default=None, help="frame rate (default: the file's; folders: 30)")
    g.add_argument("--no-smooth", action="store_true", help="write the raw per-frame predictions")
    g.add_argument("--video-outputs", type=_formats(_VIDEO_CHOICES), default=list(_VIDEO_CHOICES),
                   metavar="overlay,npz,glb,bvh", help="what to write (default: all)")
    g.add_argument("--min-track-length", type=int, default=3, metavar="N",
                   help="drop tracks seen in fewer than N frames (default 3)")


def is_video_args(args: argparse.Namespace) -> bool:
    """Whether the inputs are a video (a video file or a folder)."""
    from hpskit.video import is_video_input

    return any(is_video_input(p) for p in args.images)


def export_meshes(args: argparse.Namespace, pred, stem: str) -> list[Path]:
    """``--export`` of one image's prediction (nothing when the option is absent)."""
    if not args.export or pred is None or len(pred) == 0:
        return []
    from hpskit.export import export_image

    if pred.vertices is None:
        logger.warning("--export needs meshes, but the model has no body model; pass --body-model auto or "
                       "standin")
        return []
    return export_image(pred, args.out, stem, formats=args.export)


def run(args: argparse.Namespace) -> int:
    """``hpskit predict VIDEO``: detect, track, smooth, write (see :data:`VIDEO_HELP`)."""
    import torch

    from hpskit.geometry import intrinsics_from_focal
    from hpskit.video import VideoSource, pipeline

    if len(args.images) != 1:
        raise CLIError(f"give one video (a video file or a folder of frames) at a time; got "
                       f"{len(args.images)} inputs. Images and videos cannot be mixed either.")
    if args.boxes or args.boxes_json is not None:
        raise CLIError("--boxes / --boxes-json apply to images; in a video the people are detected per "
                       "frame.")
    if args.fps is not None and not args.fps > 0:
        raise ConfigError(f"--fps must be > 0; got {args.fps}.")
    if args.focal is not None and not args.focal > 0:
        raise ConfigError(f"--focal must be a positive number of pixels; got {args.focal}.")
    if args.min_track_length < 1:
        raise ConfigError(f"--min-track-length must be ≥ 1; got {args.min_track_length}.")
    source = args.images[0]
    video = VideoSource(source, fps=args.fps)
    K = None
    if args.focal is not None:
        H, W = video.size
        K = intrinsics_from_focal(torch.tensor([float(args.focal)]), torch.tensor([float(W)]),
                                  torch.tensor([float(H)]))[0]
    device = resolve_device(args.device)
    model = load_model(args.weights, args.body_model, device)
    if model.body_model is None and {"glb", "bvh", "overlay"} & set(args.video_outputs):
        logger.warning("the model has no body model (body_model='none'): no overlay meshes, .glb or .bvh; "
                       "pass --body-model auto or standin")
    detector = pipeline.default_detector()
    logger.info("%s: %d frames at %.3g fps, %d×%d (W×H)", source, len(video), video.fps, video.size[1],
                video.size[0])
    result = pipeline.process_video(
        model, source, args.out, detector=detector, fps=args.fps, K=K,
        smoothing=False if args.no_smooth else None, outputs=args.video_outputs,
        min_track_length=args.min_track_length, progress=not args.quiet, batch_size=args.batch_size,
        box_rescale=args.box_rescale)
    logger.info("%s: %d tracks → %s", source, len(result["tracks"]),
                ", ".join(p.name for p in result["files"]) or "nothing")
    return 0

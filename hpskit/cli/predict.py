"""``hpskit predict``: SMPL-X meshes, depth and part maps for the people in images."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from hpskit.core import ConfigError, CorruptFileError, ShapeError

from . import video as _video
from ._common import (
    CLIError,
    add_device_argument,
    add_weights_argument,
    check_files_exist,
    load_model,
    probe_image,
    read_rgb,
    resolve_device,
)

logger = logging.getLogger("hpskit.cli")

NAME = "predict"
HELP = "estimate SMPL-X pose and shape of the people in images"
DESCRIPTION = """\
Estimate SMPL-X pose, shape and camera-frame meshes of the people in IMAGE(s) with a D-PoSE model.

Person boxes are (x1, y1, x2, y2) pixels (pixel centres at integer coordinates):
  --boxes x1,y1,x2,y2          one person; repeat the option, or join boxes with ';' in one value.
                               With one image, every box is a person in it. With N images, give
                               --boxes exactly N times: the i-th value holds the boxes of image i.
  --boxes-json FILE            {"image.jpg": [[x1,y1,x2,y2], ...], ...} keyed by the IMAGE argument,
                               its resolved path or its file name; or a list with one entry per IMAGE.
                               [] means: nobody in that image.
Without boxes a person detector finds the people (--detector, default blazepose: built in, offline);
an image where it finds nobody gets an empty STEM.json and a warning. --detector whole-image makes each
whole image the crop of one person instead.

Writes to --out, per image STEM (the file stem; inputs sharing one get their file name, then their folders:
a/x.png → a__x.png): STEM_overlay.png (meshes over the image), STEM_depth.png (relative depth,
nearest person on top), STEM_parts.png (23 part labels), STEM.json (per person: box, SMPL-X parameters,
joints, camera translation, intrinsics) and STEM.npz (the same as arrays, plus vertices and the maps).
Existing files in --out are never replaced without --overwrite. Every IMAGE is checked before the model
loads; one that fails to decode later is skipped, the others are written, and the exit status is 1.
The JSON is always valid JSON: NaN/inf become null and are listed under "non_finite".

--export obj,ply,glb also writes STEM_person{K}.obj / .ply per person and STEM.glb (people + camera).

""" + _video.VIDEO_HELP + """
Example:
  hpskit predict photo.jpg --out results/ --export obj,glb        # the built-in model and detector
  hpskit predict --weights converted/ photo.jpg --boxes 120,40,380,610 --out results/
  hpskit predict clip.mp4 --out results/
"""

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_boxes(text: str) -> list[list[float]]:
    """``"x1,y1,x2,y2[;x1,y1,x2,y2...]"`` → list of boxes (argparse ``type``; raises ArgumentTypeError)."""
    boxes = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        values = [v for v in re.split(r"[,\s]+", part) if v]
        if len(values) != 4 or not all(re.fullmatch(_NUMBER, v) for v in values):
            raise argparse.ArgumentTypeError(
                f"a box is 4 numbers x1,y1,x2,y2 (pixels); got {part!r}")
        x1, y1, x2, y2 = (float(v) for v in values)
        if x2 <= x1 or y2 <= y1:
            raise argparse.ArgumentTypeError(
                f"box {part!r} is empty: need x2 > x1 and y2 > y1 (x1,y1,x2,y2, not x,y,w,h)")
        boxes.append([x1, y1, x2, y2])
    if not boxes:
        raise argparse.ArgumentTypeError(f"no box in {text!r}")
    return boxes


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_weights_argument(p, default="dpose_efficientnet_lite0.synthetic")  # the model that ships with hpskit
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="RGB image files")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--boxes", action="append", type=parse_boxes, metavar="x1,y1,x2,y2",
                       help="person box(es) in pixels; see above")
    group.add_argument("--boxes-json", type=Path, metavar="FILE", help="person boxes per image; see above")
    p.add_argument("--detector", default="blazepose", metavar="NAME",
                   help="person detector used when no boxes are given: blazepose (default, offline), "
                        "torchvision_fasterrcnn, torchvision_keypointrcnn (weights downloaded once), another "
                        "registered name (hpskit.detect), or whole-image")
    p.add_argument("--focal", type=float, default=None, metavar="F",
                   help="focal length in pixels for every image (default: sqrt(W² + H²) per image); the "
                        "principal point is the image centre (W/2, H/2)")
    p.add_argument("--box-rescale", type=float, default=1.2, metavar="S",
                   help="crop side = S · max(box w, h) (default 1.2: context around a tight detector box)")
    p.add_argument("--batch-size", type=int, default=16, help="people per network forward (default 16)")
    add_device_argument(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that already exist in --out (default: refuse before any work)")
    _video.add_arguments(p)


def _image_keys(path: Path) -> list[str]:
    return [str(path), str(path.resolve()), path.name]


def _boxes_from_json(file: Path, images: list[Path]) -> list[list[list[float]]]:
    check_files_exist([file], "--boxes-json file")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"--boxes-json {file}: not valid JSON ({exc}).") from None
    if isinstance(data, list):
        if len(data) != len(images):
            raise CLIError(f"--boxes-json {file}: a list needs one entry per IMAGE ({len(images)}); got "
                           f"{len(data)}. Key the boxes by image file name to give them in any order.")
        entries = list(data)
    elif isinstance(data, dict):
        entries, absent = [], []
        for img in images:
            key = next((k for k in _image_keys(img) if k in data), None)
            if key is None:
                absent.append(str(img))
            else:
                entries.append(data[key])
        if absent:
            raise CLIError(f"--boxes-json {file} has no entry for {absent}; its keys are "
                           f"{sorted(data)[:20]}. Key each image by its IMAGE argument, resolved path or "
                           "file name ([] = nobody).")
    else:
        raise CorruptFileError(f"--boxes-json {file}: expected an object keyed by image or a list; got "
                               f"{type(data).__name__}.")
    out = []
    for img, entry in zip(images, entries):
        rows = [entry] if (isinstance(entry, list) and len(entry) == 4
                           and all(isinstance(v, (int, float)) for v in entry)) else entry
        try:
            text = ";".join(",".join(str(float(v)) for v in row) for row in rows)
            out.append(parse_boxes(text) if rows else [])
        except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
            raise CorruptFileError(f"--boxes-json {file}, entry of {img}: expected a list of "
                                   f"[x1, y1, x2, y2] boxes; {exc}.") from None
    return out


def _boxes_per_image(args: argparse.Namespace, images: list[Path]) -> list[list[list[float]]] | None:
    """Boxes for each image, or ``None`` when no box was given (whole-image crops)."""
    if args.boxes_json is not None:
        return _boxes_from_json(args.boxes_json, images)
    if not args.boxes:
        return None
    if len(images) == 1:
        return [[box for value in args.boxes for box in value]]
    if len(args.boxes) != len(images):
        raise CLIError(f"--boxes was given {len(args.boxes)} time(s) for {len(images)} images; with several "
                       "images give it once per image, in order (join one image's boxes with ';'), or use "
                       "--boxes-json.")
    return list(args.boxes)


def unique_stems(images: list[Path]) -> list[str]:
    """One output stem per input, unique, and telling which input it came from.

    The file stem when that is unique (``photo.jpg`` → ``photo``); inputs that share a stem get their file
    name with its extension (``x.png`` → ``x.png``), then, while still shared, their parent folders joined by
    ``__`` (``a/x.png`` → ``a__x.png``, ``b/x.png`` → ``b__x.png``). Never an index that could collide with
    another input's own name.

    Raises:
        CLIError: If the same file is given twice.
    """
    resolved = [p.resolve() for p in images]
    twice = sorted({str(p) for p, r in zip(images, resolved) if resolved.count(r) > 1})
    if twice:
        raise CLIError(f"IMAGE given more than once: {', '.join(twice)}; its outputs would overwrite each "
                       "other.")

    def name(i: int, level: int) -> str:  # 0: stem, 1: file name, k ≥ 2: file name and k - 1 folders
        if level == 0:
            return images[i].stem
        if level == 1:
            return images[i].name
        return "__".join(resolved[i].parts[1:][-level:])

    level = [0] * len(images)
    while True:
        names = [name(i, lv) for i, lv in enumerate(level)]
        folded = [n.casefold() for n in names]  # also unique on case-insensitive file systems
        clash = [i for i, n in enumerate(folded) if folded.count(n) > 1]
        if not clash:
            return names
        for i in clash:
            level[i] += 1


def _check_outputs_free(out: Path, stems: list[str], overwrite: bool) -> None:
    """Refuse (before any work) to replace existing output files unless ``--overwrite``."""
    from ._outputs import output_names

    if overwrite or not out.is_dir():
        return
    taken = [out / n for s in stems for n in output_names(s) if (out / n).exists()]
    if taken:
        more = f" and {len(taken) - 6} more" if len(taken) > 6 else ""
        raise FileExistsError(f"--out {out} already holds {', '.join(p.name for p in taken[:6])}{more}; pass "
                              "--overwrite to replace them, or choose another --out.")


def run(args: argparse.Namespace) -> int:
    import torch

    from hpskit.geometry import intrinsics_from_focal
    from hpskit.models import predict

    from ._outputs import write_outputs

    if _video.is_video_args(args):
        return _video.run(args)
    images = list(args.images)
    check_files_exist(images, "IMAGE")
    stems = unique_stems(images)
    unreadable = []
    for path in images:  # every header is read before the model loads: a bad file fails fast, not midway
        try:
            probe_image(path)
        except CorruptFileError as exc:
            unreadable.append(str(exc))
    if len(unreadable) == 1:
        raise CorruptFileError(f"{unreadable[0]} (nothing was done)")
    if unreadable:
        raise CorruptFileError(f"{len(unreadable)} of {len(images)} IMAGE(s) cannot be read; nothing was "
                               "done:" + "".join(f"\n  {e}" for e in unreadable))
    _check_outputs_free(args.out, stems, args.overwrite)
    if args.focal is not None and not args.focal > 0:
        raise ConfigError(f"--focal must be a positive number of pixels; got {args.focal}.")
    if not args.box_rescale > 0 or args.batch_size < 1:
        raise ConfigError(f"--box-rescale must be > 0 and --batch-size ≥ 1; got {args.box_rescale}, "
                          f"{args.batch_size}.")
    boxes = _boxes_per_image(args, images)
    rescale = args.box_rescale
    detector = None
    if boxes is None and args.detector == "whole-image":
        logger.warning("--detector whole-image: using each whole image as the crop of one person "
                       "(box rescale 1.0). Give person boxes for pictures with several or small people.")
        rescale = 1.0
    elif boxes is None:  # the people are found per image below
        from hpskit.detect import create_detector

        detector = create_detector(args.detector)
        logger.info("no --boxes: %s finds the people", detector)
    device = resolve_device(args.device)
    model = load_model(args.weights, args.body_model, device)
    body = model.body_model
    logger.info("model %s (%s, %s parameters) on %s; body model: %s", args.weights, model.config.encoder,
                f"{model.num_parameters():,}", device,
                "none" if body is None else "licence-free stand-in" if body.is_standin else body.model_path)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"weights": str(args.weights), "device": str(device), "box_rescale": rescale}
    failed: list[str] = []
    for i, (path, stem) in enumerate(zip(images, stems)):
        try:
            rgb = read_rgb(path)
        except CorruptFileError as exc:  # damaged after its header (e.g. truncated): skip it, fail at the end
            logger.error("skipped: %s", exc)
            failed.append(str(path))
            continue
        H, W = rgb.shape[:2]
        if detector is not None:
            img_boxes = detector([rgb])[0].boxes.tolist()
            if not img_boxes:
                logger.warning("%s: %s found no person (give --boxes to choose the crops)", path,
                               type(detector).__name__)
        elif boxes is None:
            img_boxes = [[-0.5, -0.5, W - 0.5, H - 0.5]]  # the whole image: pixel centres at integers
        else:
            img_boxes = boxes[i]
        K = None
        if args.focal is not None:
            K = intrinsics_from_focal(torch.tensor([float(args.focal)]), torch.tensor([float(W)]),
                                      torch.tensor([float(H)]))[0]
        if not img_boxes:
            logger.warning("%s: no person box; writing an empty %s.json", path, stem)
            write_outputs(args.out, stem, path, rgb, None, model, meta, K=K)
            continue
        try:
            pred = predict(model, rgb, torch.tensor(img_boxes, dtype=torch.float32), K=K,
                           box_rescale=rescale, batch_size=args.batch_size)
        except ShapeError as exc:  # e.g. a box outside the image: say which image
            raise ShapeError(f"{path} ({W}×{H}, W×H), boxes {img_boxes}: {exc}") from exc
        written = write_outputs(args.out, stem, path, rgb, pred, model, meta)
        written += _video.export_meshes(args, pred, stem)
        logger.info("%s: %d %s → %s", path, len(pred), "person" if len(pred) == 1 else "people",
                    ", ".join(p.name for p in written))
    if failed:
        raise CorruptFileError(f"{len(failed)} of {len(images)} IMAGE(s) could not be read and were skipped "
                               f"(the others were written): {', '.join(failed)}")
    return 0

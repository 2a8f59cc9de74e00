"""Per-person mesh files (``.obj``, ``.ply`` through trimesh) and the per-image export of a prediction.

Vertices are written in hpskit's camera frame (OpenCV: x right, y down, z forward; metres), the same
numbers as :attr:`hpskit.models.Prediction.vertices`, so the files of one image line up with each other
and with the ``.glb`` scene. Pass ``frame="y_up"`` to rotate them 180° about x (y up, z towards the
camera), the orientation that Blender's and most viewers' importers expect. trimesh is an optional
dependency (``pip install hpskit[export]``); the ``.glb`` writer needs only numpy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpskit.core import ConfigError, ShapeError

from .glb import atomic_write_bytes
from .scene import CV_TO_GLTF, scene_glb

__all__ = ["MESH_FORMATS", "EXPORT_FORMATS", "write_mesh", "export_image"]

#: Per-person mesh formats.
MESH_FORMATS = ("obj", "ply")
#: Everything :func:`export_image` writes: per person ``obj``/``ply``, per image ``glb``.
EXPORT_FORMATS = ("obj", "ply", "glb")


def _trimesh():
    try:
        import trimesh
    except ImportError as e:
        raise ImportError("Writing .obj / .ply needs trimesh: pip install 'hpskit[export]' (or trimesh). "
                          "The .glb export works without it.") from e
    return trimesh


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _frame(vertices: np.ndarray, frame: str) -> np.ndarray:
    if frame == "camera":
        return vertices
    if frame == "y_up":
        return vertices @ CV_TO_GLTF.T.astype(vertices.dtype)
    raise ConfigError(f"hpskit.export: `frame` must be 'camera' or 'y_up'; got {frame!r}.")


def write_mesh(path: str | os.PathLike, vertices, faces, frame: str = "camera") -> Path:
    """Write one triangle mesh as ``.obj`` or ``.ply`` (binary), chosen by the suffix, atomically.

    Args:
        path: Output file, ending in ``.obj`` or ``.ply``.
        vertices: (V, 3) positions (metres), tensor or array.
        faces: (F, 3) triangles.
        frame: ``"camera"`` (as given) or ``"y_up"`` (rotated 180° about x).

    Returns:
        The path.

    Raises:
        ConfigError: For another suffix or frame.
        ShapeError: For badly shaped or non-finite vertices or faces out of range.
    """
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in MESH_FORMATS:
        raise ConfigError(f"hpskit.export.write_mesh: {path.name}: the suffix must be one of "
                          f"{', '.join('.' + f for f in MESH_FORMATS)}.")
    v = _as_numpy(vertices).astype(np.float64)
    f = _as_numpy(faces).astype(np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ShapeError(f"hpskit.export.write_mesh: vertices must be (V, 3) and faces (F, 3); got "
                         f"{tuple(v.shape)} and {tuple(f.shape)}.")
    if not np.isfinite(v).all():
        raise ShapeError("hpskit.export.write_mesh: vertices hold NaN or infinite values.")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ShapeError(f"hpskit.export.write_mesh: faces index {f.min()}..{f.max()} but there are {len(v)} "
                         "vertices.")
    mesh = _trimesh().Trimesh(vertices=_frame(v, frame), faces=f, process=False)
    data = mesh.export(file_type=kind)
    return atomic_write_bytes(data.encode() if isinstance(data, str) else data, path)


def export_image(pred, out_dir: str | os.PathLike, stem: str, image: int = 0,
                 formats: Sequence[str] = EXPORT_FORMATS, frame: str = "camera") -> list[Path]:
    """Write the meshes of one image's people: ``STEM_person{k}.obj`` / ``.ply`` and ``STEM.glb``.

    Args:
        pred: A :class:`hpskit.models.Prediction` with vertices and faces (a model with a body model).
        out_dir: Output folder (created).
        stem: File-name stem of the image.
        image: Which image of ``pred`` (``pred.people_in(image)``).
        formats: Any of ``"obj"``, ``"ply"``, ``"glb"``.
        frame: Frame of the ``.obj`` / ``.ply`` vertices (``"camera"`` or ``"y_up"``); the ``.glb`` always
            holds camera-frame vertices under a node that turns them into glTF's y-up frame.

    Returns:
        The written paths. The ``.glb`` is written even for an image without people (camera only).

    Raises:
        ConfigError: For an unknown format.
        ShapeError: If ``pred`` has no vertices (a model without body model).
    """
    formats = [f.lower().lstrip(".") for f in formats]
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ConfigError(f"hpskit.export.export_image: unknown format(s) {unknown}; choose from "
                          f"{', '.join(EXPORT_FORMATS)}.")
    if pred.vertices is None or pred.faces is None:
        raise ShapeError("hpskit.export.export_image: the prediction has no vertices (the model has no body "
                         "model); load it with body_model='auto' or 'standin' to export meshes.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    people = pred.people_in(image).tolist()
    verts = _as_numpy(pred.vertices[people]).astype(np.float32)
    faces = _as_numpy(pred.faces)
    written = []
    for k in range(len(people)):
        for fmt in formats:
            if fmt in MESH_FORMATS:
                written.append(write_mesh(out_dir / f"{stem}_person{k}.{fmt}", verts[k], faces, frame=frame))
    if "glb" in formats:
        H, W = (int(s) for s in pred.image_sizes[image].tolist())
        if people:
            K = _as_numpy(pred.K[people[0]])
        else:  # nobody: the default camera of the image
            f = float(np.hypot(W, H))
            K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
        names = [f"person_{k}" for k in range(len(people))]
        written.append(scene_glb(verts, faces, K, (H, W), names=names).write(out_dir / f"{stem}.glb"))
    return written

"""One image's people as a binary glTF scene: every mesh in the camera frame, plus the image's camera.

The frames: hpskit's camera frame is OpenCV's (x right, y down, z forward; docs/conventions.md); a glTF
camera looks down its −Z axis with +Y up and +X right. The scene therefore has a root node
``opencv_camera_frame`` rotated 180° about x (``diag(1, −1, −1)``, quaternion ``(1, 0, 0, 0)``), whose
children are the people with their vertices stored exactly as hpskit computed them (camera frame, metres),
and a camera node at the origin with the identity transform. A viewer that looks through that camera sees
the people where the photo saw them, upright.

The camera: glTF's perspective camera has a vertical field of view and an aspect ratio, and its principal
point is the viewport's centre. With a W×H viewport, ``yfov = 2·atan(H / (2·fy))`` and
``aspectRatio = (W·fy) / (H·fx)`` (= W/H for square pixels) reproduce ``fx`` and ``fy`` exactly. The
principal point cannot be stored: glTF puts it at the image centre, which is ``((W − 1)/2, (H − 1)/2)`` in
hpskit's pixels (pixel centres at integers), so a pixel projected through the glTF camera moves by
``((W − 1)/2 − cx, (H − 1)/2 − cy)`` relative to hpskit's projection: half a pixel for hpskit's default
K (principal point (W/2, H/2), the D-PoSE authors' choice). The exact K is kept in the camera node's
``extras`` (``"K"``, ``"image_size"``) for tools that read it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpskit.core import ShapeError

from .glb import GLBBuilder

__all__ = ["CV_TO_GLTF", "CV_TO_GLTF_QUAT", "PERSON_COLORS", "gltf_perspective", "vertex_normals_np",
           "add_mesh", "scene_glb", "write_scene_glb"]

#: Rotation from hpskit's (OpenCV) camera frame to glTF's camera frame: 180° about x.
CV_TO_GLTF = np.diag([1.0, -1.0, -1.0])
#: The same as a glTF quaternion (x, y, z, w).
CV_TO_GLTF_QUAT = [1.0, 0.0, 0.0, 0.0]
#: Base colours of the people, cycled (RGB in [0, 1]; the colours of ``hpskit predict``'s overlay).
PERSON_COLORS = ((0.85, 0.45, 0.35), (0.35, 0.6, 0.9), (0.45, 0.8, 0.45), (0.9, 0.75, 0.35),
                 (0.75, 0.45, 0.85))


def gltf_perspective(K: np.ndarray, image_size: tuple[int, int], znear: float = 0.01) -> dict:
    """glTF ``camera.perspective`` for intrinsics ``K`` (3, 3) and ``image_size`` (H, W) in pixels.

    Returns:
        ``{"yfov": 2·atan(H / (2 fy)), "aspectRatio": W·fy / (H·fx), "znear": znear}`` (radians); no
        ``zfar`` (an infinite projection).

    Raises:
        ShapeError: For a K that is not (3, 3) with positive focal lengths, or a non-positive image size.

    Example:
        >>> cam = gltf_perspective(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), (480, 640))
        >>> round(math.degrees(cam["yfov"]), 3), cam["aspectRatio"]
        (51.282, 1.3333333333333333)
    """
    K = np.asarray(K, dtype=np.float64)
    H, W = (int(s) for s in image_size)
    if K.shape != (3, 3) or not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ShapeError(f"gltf_perspective: `K` must be (3, 3) with positive fx, fy; got shape {K.shape} "
                         f"{K.tolist() if K.size == 9 else ''}.")
    if H <= 0 or W <= 0:
        raise ShapeError(f"gltf_perspective: `image_size` must be positive (H, W); got {image_size}.")
    fx, fy = float(K[0, 0]), float(K[1, 1])
    return {"yfov": 2.0 * math.atan(H / (2.0 * fy)), "aspectRatio": (W * fy) / (H * fx), "znear": znear}


def vertex_normals_np(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 of a mesh (V, 3) / (F, 3); (0, 0, 1) where a vertex
    has no face area (glTF requires unit normals)."""
    v = np.asarray(vertices, np.float64)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2·area
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    out = np.where(norm > 1e-12, vn / np.maximum(norm, 1e-300), np.array([0.0, 0.0, 1.0]))
    return out.astype(np.float32)


def _check_mesh(vertices: np.ndarray, faces: np.ndarray, where: str) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ShapeError(f"{where}: vertices must be (V, 3); got {tuple(vertices.shape)}.")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ShapeError(f"{where}: `faces` must be (F, 3); got {tuple(faces.shape)}.")
    if not np.isfinite(vertices).all():
        raise ShapeError(f"{where}: vertices hold NaN or infinite values.")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ShapeError(f"{where}: `faces` index vertices {faces.min()}..{faces.max()}, but there are "
                         f"{len(vertices)} vertices.")


def add_mesh(builder: GLBBuilder, vertices: np.ndarray, faces: np.ndarray, color: Sequence[float],
             name: str, indices: int | None = None, extra_attributes: dict | None = None) -> tuple[int, int]:
    """Add one triangle mesh (positions, normals, a PBR material) to ``builder``.

    Args:
        builder: The glTF being built.
        vertices: (V, 3) positions, metres.
        faces: (F, 3) triangles.
        color: RGB base colour in [0, 1].
        name: Mesh and material name.
        indices: An index accessor to reuse (people share the body's faces); ``None`` writes one.
        extra_attributes: More vertex attributes, name → accessor index (e.g. ``JOINTS_0``).

    Returns:
        ``(mesh index, index accessor)``.
    """
    vertices = np.asarray(vertices, np.float32)
    faces = np.asarray(faces, np.int64)
    _check_mesh(vertices, faces, "hpskit.export.add_mesh")
    pos = builder.add_accessor(vertices, "VEC3", target="ARRAY_BUFFER")
    nrm = builder.add_accessor(vertex_normals_np(vertices, faces), "VEC3", target="ARRAY_BUFFER",
                               bounds=False)
    if indices is None:
        indices = builder.add_accessor(faces.astype(np.uint32).reshape(-1), "SCALAR",
                                       target="ELEMENT_ARRAY_BUFFER", bounds=False)
    material = builder.add("materials", {
        "name": name, "doubleSided": True,
        "pbrMetallicRoughness": {"baseColorFactor": [float(c) for c in color[:3]] + [1.0],
                                 "metallicFactor": 0.0, "roughnessFactor": 0.8}})
    attributes = {"POSITION": pos, "NORMAL": nrm, **(extra_attributes or {})}
    mesh = builder.add("meshes", {"name": name, "primitives": [
        {"attributes": attributes, "indices": indices, "material": material, "mode": 4}]})
    return mesh, indices


def add_camera(builder: GLBBuilder, K: np.ndarray, image_size: tuple[int, int]) -> int:
    """Add the image's perspective camera at the origin (a root node named ``camera``); its node index."""
    cam = builder.add("cameras", {"name": "camera", "type": "perspective",
                                  "perspective": gltf_perspective(K, image_size)})
    K = np.asarray(K, np.float64)
    return builder.add_node({"name": "camera", "camera": cam, "extras": {
        "K": K.tolist(), "image_size": [int(image_size[0]), int(image_size[1])],
        "note": "hpskit intrinsics (OpenCV camera, pixel centres at integers); glTF puts the principal "
                "point at the image centre"}}, root=True)


def scene_glb(vertices: np.ndarray | Sequence[np.ndarray], faces: np.ndarray, K: np.ndarray,
              image_size: tuple[int, int], names: Sequence[str] | None = None,
              colors: Sequence[Sequence[float]] | None = None) -> GLBBuilder:
    """Build the glTF scene of one image: its people's meshes in the camera frame and its camera.

    Args:
        vertices: (P, V, 3) camera-frame vertices of P people (metres; P may be 0), or a list of (V_i, 3).
        faces: (F, 3) triangles shared by every person.
        K: (3, 3) intrinsics of the image (pixels).
        image_size: ``(H, W)`` pixels.
        names: Node names, default ``person_0``, ``person_1``, ….
        colors: RGB per person, default :data:`PERSON_COLORS` cycled.

    Returns:
        A :class:`GLBBuilder`; ``.write(path)`` or ``.to_bytes()``.

    Raises:
        ShapeError: For badly shaped or non-finite vertices, faces out of range, or a bad K / image size.
    """
    people = [np.asarray(v, np.float32) for v in vertices]
    faces = np.asarray(faces, np.int64)
    names = list(names) if names is not None else [f"person_{i}" for i in range(len(people))]
    if len(names) != len(people):
        raise ShapeError(f"hpskit.export.scene_glb: {len(names)} names for {len(people)} people.")
    builder = GLBBuilder()
    add_camera(builder, K, image_size)
    children = []
    indices = None
    for i, (v, name) in enumerate(zip(people, names)):
        color = (colors[i] if colors is not None else PERSON_COLORS[i % len(PERSON_COLORS)])
        mesh, indices = add_mesh(builder, v, faces, color, name, indices=indices)
        children.append(builder.add_node({"name": name, "mesh": mesh}))
    root = {"name": "opencv_camera_frame", "rotation": CV_TO_GLTF_QUAT}
    if children:
        root["children"] = children
    builder.add_node(root, root=True)
    return builder


def write_scene_glb(path: str | os.PathLike, vertices, faces, K, image_size, **kwargs) -> Path:
    """:func:`scene_glb` written atomically to ``path``; returns the path."""
    return scene_glb(vertices, faces, K, image_size, **kwargs).write(path)

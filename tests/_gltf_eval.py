"""Evaluate glTF node transforms from a file's JSON, written from the glTF 2.0 specification (independent
of hpskit.export) for the export and video tests."""

from __future__ import annotations

import numpy as np


def quat_xyzw_to_rotmat(q) -> np.ndarray:
    """glTF quaternion (x, y, z, w) → rotation matrix, written out from the unit-quaternion formula."""
    x, y, z, w = (float(v) for v in q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def node_matrix(node: dict, rotation=None, translation=None) -> np.ndarray:
    """A node's local 4×4 matrix from its TRS (overridden by animated values when given)."""
    M = np.eye(4)
    q = rotation if rotation is not None else node.get("rotation", [0, 0, 0, 1])
    t = translation if translation is not None else node.get("translation", [0, 0, 0])
    M[:3, :3] = quat_xyzw_to_rotmat(q)
    M[:3, 3] = t
    return M


def world_matrices(gltf: dict, overrides: dict | None = None) -> dict[int, np.ndarray]:
    """World 4×4 matrix of every node reachable from the scene, with per-node (rotation, translation)
    overrides {node: (q or None, t or None)}."""
    overrides = overrides or {}
    out: dict[int, np.ndarray] = {}

    def visit(i: int, parent: np.ndarray) -> None:
        node = gltf["nodes"][i]
        r, t = overrides.get(i, (None, None))
        out[i] = parent @ node_matrix(node, r, t)
        for c in node.get("children", []):
            visit(c, out[i])

    for root in gltf["scenes"][gltf.get("scene", 0)]["nodes"]:
        visit(root, np.eye(4))
    return out

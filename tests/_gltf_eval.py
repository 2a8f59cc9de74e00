"""Evaluate glTF node transforms from a file's JSON, written from the glTF 2.0 specification (independent
of hpskit.export) for the export and video tests."""

from __future__ import annotations

import numpy as np

from hpskit.export import accessor_array

S_CV = np.diag([1.0, -1.0, -1.0])  # hpskit camera frame <-> glTF frame


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


def replay_skinned_glb(gltf: dict, binary: bytes):
    """Per key frame: (joint world positions (55, 3), skinned vertices (V, 3)), in hpskit's camera frame,
    evaluated from the file's nodes, skin and animation alone."""
    anim = gltf["animations"][0]
    series = {}
    for ch in anim["channels"]:
        sampler = anim["samplers"][ch["sampler"]]
        series[(ch["target"]["node"], ch["target"]["path"])] = accessor_array(gltf, binary, sampler["output"])
    times = accessor_array(gltf, binary, anim["samplers"][0]["input"])
    skin = gltf["skins"][0]
    ibm = accessor_array(gltf, binary, skin["inverseBindMatrices"]).astype(np.float64)
    mesh_node = next(n for n in gltf["nodes"] if "skin" in n)
    attr = gltf["meshes"][mesh_node["mesh"]]["primitives"][0]["attributes"]
    v_rest = accessor_array(gltf, binary, attr["POSITION"]).astype(np.float64)
    idx = np.concatenate([accessor_array(gltf, binary, attr[f"JOINTS_{s}"]) for s in (0, 1)], 1)
    w = np.concatenate([accessor_array(gltf, binary, attr[f"WEIGHTS_{s}"]) for s in (0, 1)], 1)
    out = []
    for k in range(len(times)):
        overrides = {}
        for (node, path), values in series.items():
            r, t = overrides.get(node, (None, None))
            overrides[node] = (values[k], t) if path == "rotation" else (r, values[k])
        worlds = world_matrices(gltf, overrides)
        skinning = np.stack([worlds[j] @ ibm[n] for n, j in enumerate(skin["joints"])])  # (55, 4, 4)
        joints = np.stack([worlds[j][:3, 3] for j in skin["joints"]])
        blend = np.einsum("vk,vkab->vab", w, skinning[idx])  # per vertex Σ w·M
        verts = np.einsum("vab,vb->va", blend[:, :3, :3], v_rest) + blend[:, :3, 3]
        out.append((joints @ S_CV, verts @ S_CV))  # the 180° turn is its own inverse
    return times, out

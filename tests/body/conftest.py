"""Fixtures for hpskit.body: body-model files written in their real on-disk formats (formats.md §1–§3, §10).

Contents are random but well formed. SMPL-X files that smplx must pose use the real V = 10475 / F = 20908,
because smplx reads its extra joints from fixed vertex ids up to 9929; validation tests use V = 300.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse

from hpskit.body.joint_sets import SMPL_PARENTS, SMPLX_PARENTS

SMPLX_V, SMPLX_F = 10475, 20908
SMPL_V, SMPL_F = 6890, 13776


def _skinning(rng, V, J):
    """Each vertex skinned to two random joints (weights sum to 1)."""
    w = np.zeros((V, J), np.float32)
    a, b = rng.integers(0, J, V), rng.integers(0, J, V)
    t = rng.uniform(0.2, 0.8, V).astype(np.float32)
    w[np.arange(V), a] += t
    w[np.arange(V), b] += 1 - t
    return w


def _regressor(rng, J, V, k=8):
    """Each joint = mean of k random vertices."""
    r = np.zeros((J, V), np.float32)
    for j in range(J):
        r[j, rng.choice(V, k, replace=False)] = 1.0 / k
    return r


def smplx_arrays(**kwargs) -> dict:
    """A fresh dict (the arrays are shared between calls: never edit them in place)."""
    return dict(_smplx_arrays(**kwargs))


def smpl_arrays(**kwargs) -> dict:
    """A fresh dict (the arrays are shared between calls: never edit them in place)."""
    return dict(_smpl_arrays(**kwargs))


@functools.lru_cache(maxsize=4)
def _smplx_arrays(V=SMPLX_V, F=SMPLX_F, shape_cols=400, seed=0, dense_cols=(range(0, 16), range(300, 312))):
    """A random SMPL-X v1.1-format dict (uint32 kintree with 4294967295 as the root's parent, like the
    real file). Only the shape/expression columns in ``dense_cols`` are non-zero, to keep it cheap."""
    rng = np.random.default_rng(seed)
    parents = np.array(SMPLX_PARENTS, np.int64)
    parents[0] = 4294967295
    shapedirs = np.zeros((V, 3, shape_cols), np.float32)
    for cols in dense_cols:
        cols = [c for c in cols if c < shape_cols]
        shapedirs[:, :, cols] = rng.normal(0, 0.01, (V, 3, len(cols)))
    bary = rng.uniform(0.1, 1, (51, 3)).astype(np.float32)
    return {
        "v_template": rng.normal(0, 0.3, (V, 3)).astype(np.float32),
        "f": rng.integers(0, V, (F, 3)).astype(np.uint32),
        "J_regressor": _regressor(rng, 55, V),
        "weights": _skinning(rng, V, 55),
        "kintree_table": np.stack([parents, np.arange(55)]).astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": rng.normal(0, 0.002, (V, 3, 486)).astype(np.float32),
        "hands_componentsl": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_componentsr": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_meanl": rng.normal(0, 0.1, 45).astype(np.float32),
        "hands_meanr": rng.normal(0, 0.1, 45).astype(np.float32),
        "lmk_faces_idx": rng.integers(0, F, 51).astype(np.uint32),
        "lmk_bary_coords": bary / bary.sum(1, keepdims=True),
        "joint2num": np.array({"pelvis": 0, "head": 15}, dtype=object),  # pickled dict, as in the real file
    }


def write_npz(path: Path, arrays: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.savez would append .npz to a name without it
        np.savez(fh, **arrays)
    return path


@functools.lru_cache(maxsize=4)
def _smpl_arrays(V=SMPL_V, F=SMPL_F, seed=1):
    """A chumpy-free SMPL dict as smplx's clean_ch.py writes it: scipy.sparse csc J_regressor."""
    rng = np.random.default_rng(seed)
    parents = np.array(SMPL_PARENTS, np.int64)
    parents[0] = 4294967295
    return {
        "v_template": rng.normal(0, 0.3, (V, 3)),
        "f": rng.integers(0, V, (F, 3)).astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(_regressor(rng, 24, V).astype(np.float64)),
        "weights": _skinning(rng, V, 24).astype(np.float64),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "shapedirs": rng.normal(0, 0.01, (V, 3, 10)),
        "posedirs": rng.normal(0, 0.002, (V, 3, 207)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_pkl(path: Path, obj, protocol: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


@pytest.fixture(scope="session")
def smplx_root(tmp_path_factory) -> Path:
    """A body-models root with <root>/smplx/SMPLX_NEUTRAL.npz (full size) — written once per session."""
    root = tmp_path_factory.mktemp("body_models")
    write_npz(root / "smplx" / "SMPLX_NEUTRAL.npz", smplx_arrays())
    return root


@pytest.fixture(scope="session")
def smplx_file(smplx_root) -> Path:
    return smplx_root / "smplx" / "SMPLX_NEUTRAL.npz"


@pytest.fixture(scope="session")
def smpl_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("smpl_models")
    return write_pkl(root / "smpl" / "SMPL_NEUTRAL.pkl", smpl_arrays())


@pytest.fixture(scope="session")
def fx() -> SimpleNamespace:
    """The writers above, as a fixture (works under any pytest import mode)."""
    return SimpleNamespace(smplx_arrays=smplx_arrays, smpl_arrays=smpl_arrays, write_npz=write_npz,
                           write_pkl=write_pkl)

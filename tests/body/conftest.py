"""Fixtures for hpskit.body: body-model files written in their real on-disk formats (formats.md §1–§3, §10).

Contents are random but well formed. SMPL-X files that smplx must pose use the real V = 10475 / F = 20908,
because smplx reads its extra joints from fixed vertex ids up to 9929; validation tests use V = 300.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from types import SimpleNamespace

import _body_fakes as _fakes
import numpy as np
import pytest
from _body_fakes import SMPL_F, SMPL_V, SMPLX_F, SMPLX_V
from _body_fakes import regressor as _regressor
from _body_fakes import skinning as _skinning

from hpskit.body.joint_sets import SMPLX_PARENTS


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
    return _fakes.smpl_arrays(seed, V, F)


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

"""Fixtures of the recipe tests: the recipe modules, one shared smoke run, and
licence-free stand-ins of the evaluation files in their real formats (random SMPL-X / SMPL models,
``smplx2smpl.pkl``, ``J_regressor_h36m.npy``), written once per session.

Every recipe test uses the smoke config's tiny model (HRNet-W18, 64×64 crops, batch 2) and a few steps, so
the whole folder stays within CI's budget on 2 cores.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse

from hpskit.body.joint_sets import SMPLX_PARENTS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _body_fakes import SMPL_V, SMPLX_V, smpl_arrays  # noqa: E402
from _body_fakes import regressor as _regressor  # noqa: E402
from recipe_helpers import SMOKE, import_recipe, run_script  # noqa: E402


@pytest.fixture(scope="session")
def recipe():
    return import_recipe()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``train.py --config smoke.yaml`` as CI runs it (4 steps, checkpoints at 2 and 4, eval and export at the
    end), once per session; several tests read its run folder."""
    out = tmp_path_factory.mktemp("smoke_run")
    hpskit_data = tmp_path_factory.getbasetemp() / "hpskit_user_data"
    env = {"HPSKIT_DATA_DIR": str(hpskit_data)}
    proc = run_script("train.py", ["--config", str(SMOKE), f"output_dir={out}", "log.progress=false"],
                      env=env)
    return SimpleNamespace(dir=out, proc=proc, env=env)


# ----------------------------------------------------------------------------- body-model files
def _smplx_arrays(seed=0) -> dict:
    """An SMPL-X v1.1-format model (400 shape/expression columns, the first 11 used) shaped as a 1.8 m tube of
    25 rings × 419 vertices with grid faces, each ring skinned to one body joint: small triangles keep the
    fixture renders (BEDLAM / AGORA writers, part labels) as cheap as a real body's."""
    rng = np.random.default_rng(seed)
    rings, per = 25, SMPLX_V // 25
    ang = np.linspace(0, 2 * np.pi, per, endpoint=False)
    height = np.linspace(0.9, -0.9, rings)
    v = np.stack([np.tile(0.15 * np.cos(ang), rings), np.repeat(height, per), np.tile(0.12 * np.sin(ang),
                                                                                      rings)], 1)
    v += rng.normal(0, 0.003, v.shape)
    r, i = np.meshgrid(np.arange(rings - 1), np.arange(per), indexing="ij")
    a, b = r * per + i, r * per + (i + 1) % per
    c, d = a + per, b + per
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    ring_joint = np.round(np.linspace(0, 21, rings)).astype(int)
    owner = np.repeat(ring_joint, per)
    weights = np.zeros((SMPLX_V, 55), np.float32)
    weights[np.arange(SMPLX_V), owner] = 1
    J = _regressor(rng, 55, SMPLX_V)
    for j in np.unique(ring_joint):
        J[j] = (owner == j) / (owner == j).sum()
    parents = np.array(SMPLX_PARENTS, np.int64)
    parents[0] = 4294967295
    shapedirs = np.zeros((SMPLX_V, 3, 400), np.float32)
    shapedirs[:, :, :11] = rng.normal(0, 0.01, (SMPLX_V, 3, 11))
    bary = rng.uniform(0.1, 1, (51, 3)).astype(np.float32)
    return {
        "v_template": v.astype(np.float32),
        "f": faces.astype(np.uint32),
        "J_regressor": J.astype(np.float32),
        "weights": weights,
        "kintree_table": np.stack([parents, np.arange(55)]).astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": rng.normal(0, 0.002, (SMPLX_V, 3, 486)).astype(np.float32),
        "hands_componentsl": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_componentsr": rng.normal(size=(45, 45)).astype(np.float32),
        "hands_meanl": np.zeros(45, np.float32),
        "hands_meanr": np.zeros(45, np.float32),
        "lmk_faces_idx": rng.integers(0, len(faces), 51).astype(np.uint32),
        "lmk_bary_coords": bary / bary.sum(1, keepdims=True),
    }


def _smpl_arrays(seed) -> dict:
    return smpl_arrays(seed)


def _pkl(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


@pytest.fixture(scope="session")
def body_root(tmp_path_factory) -> Path:
    """``<root>/smplx/SMPLX_NEUTRAL.npz``, ``smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl``, ``utils/smplx2smpl.pkl``
    (sparse: each SMPL vertex the mean of 3 SMPL-X vertices) and ``utils/J_regressor_h36m.npy`` (Fortran
    order, as the real file)."""
    root = tmp_path_factory.mktemp("body_models")
    (root / "smplx").mkdir()
    with open(root / "smplx" / "SMPLX_NEUTRAL.npz", "wb") as fh:
        np.savez(fh, **_smplx_arrays())
    for seed, g in enumerate(("NEUTRAL", "MALE", "FEMALE")):
        _pkl(root / "smpl" / f"SMPL_{g}.pkl", _smpl_arrays(seed + 1))
    rng = np.random.default_rng(7)
    rows = np.repeat(np.arange(SMPL_V), 3)
    cols = rng.integers(0, SMPLX_V, SMPL_V * 3)
    m = scipy.sparse.csr_matrix((np.full(SMPL_V * 3, 1 / 3), (rows, cols)), shape=(SMPL_V, SMPLX_V))
    _pkl(root / "utils" / "smplx2smpl.pkl", {"matrix": m})
    np.save(root / "utils" / "J_regressor_h36m.npy", np.asfortranarray(_regressor(rng, 17, SMPL_V)))
    return root

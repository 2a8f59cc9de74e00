"""hpskit.body.io: resolution order, missing-file messages, validation before smplx, restricted pickles."""

from __future__ import annotations

import io
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from hpskit.body import (
    SMPL_URL,
    SMPLX_URL,
    load_h36m_regressor,
    load_smpl_model,
    load_smplx2smpl,
    load_smplx_npz,
    resolve_smpl_path,
    resolve_smplx_path,
    restricted_pickle_load,
    validate_smplx_npz,
)
from hpskit.core import BODY_MODELS_ENV, CorruptFileError, MissingFileError

SMALL = {"V": 300, "F": 500}
REQUIRED = {
    "v_template": "(V, 3)", "f": "(F, 3)", "J_regressor": "(55, V)", "weights": "(V, 55)",
    "kintree_table": "(2, 55)", "shapedirs": "(V, 3, S)", "posedirs": "(V, 3, 486)",
    "hands_componentsl": "(45, 45)", "hands_componentsr": "(45, 45)", "hands_meanl": "(45,)",
    "hands_meanr": "(45,)", "lmk_faces_idx": "(51,)", "lmk_bary_coords": "(51, 3)",
}


@pytest.fixture(scope="module")
def small(fx):
    return fx.smplx_arrays(**SMALL)


# ---------------------------------------------------------------- resolution and missing files


def test_resolution_order_argument_env_user_dir(tmp_path, monkeypatch, small, fx):
    user = tmp_path / "user"
    monkeypatch.setenv("HPSKIT_DATA_DIR", str(user))
    f_user = fx.write_npz(user / "smplx" / "SMPLX_NEUTRAL.npz", small)
    assert resolve_smplx_path() == f_user
    env = tmp_path / "env"
    f_env = fx.write_npz(env / "smplx" / "SMPLX_NEUTRAL.npz", small)
    monkeypatch.setenv(BODY_MODELS_ENV, str(env))
    assert resolve_smplx_path() == f_env
    arg = tmp_path / "arg"
    f_arg = fx.write_npz(arg / "smplx" / "SMPLX_NEUTRAL.npz", small)
    assert resolve_smplx_path(arg) == f_arg
    assert resolve_smplx_path(f_arg) == f_arg  # a file is used as is
    assert resolve_smplx_path(arg / "smplx") == f_arg  # the model-type folder itself
    f_male = fx.write_npz(arg / "smplx" / "SMPLX_MALE.npz", small)
    assert resolve_smplx_path(arg, gender="male") == f_male


def test_missing_smplx_message_lists_places_and_url(tmp_path, monkeypatch):
    with pytest.raises(MissingFileError) as e:
        resolve_smplx_path()
    msg = str(e.value)
    assert "SMPLX_NEUTRAL.npz" in msg and "argument (not given)" in msg
    assert f"${BODY_MODELS_ENV} (unset)" in msg and "user data dir" in msg
    assert SMPLX_URL in msg and "models_smplx_v1_1.zip" in msg and "stand-in" in msg
    monkeypatch.setenv(BODY_MODELS_ENV, str(tmp_path / "env_root"))
    with pytest.raises(MissingFileError, match=r"env_root.*HPSKIT_BODY_MODELS"):
        resolve_smplx_path(gender="female")


def test_explicit_wrong_path_does_not_fall_through(tmp_path, monkeypatch, small, fx):
    env = tmp_path / "env"
    fx.write_npz(env / "smplx" / "SMPLX_NEUTRAL.npz", small)
    monkeypatch.setenv(BODY_MODELS_ENV, str(env))
    with pytest.raises(MissingFileError, match=r"typo \(argument\)"):
        resolve_smplx_path(tmp_path / "typo")


def test_missing_smpl_and_assets(tmp_path):
    with pytest.raises(MissingFileError, match=r"SMPL_NEUTRAL\.pkl.*SMPL_NEUTRAL\.npz") as e:
        resolve_smpl_path()
    assert SMPL_URL in str(e.value) and "clean_ch" in str(e.value)
    with pytest.raises(MissingFileError, match="smplx2smpl.pkl.*bedlam"):
        load_smplx2smpl()
    with pytest.raises(MissingFileError, match="J_regressor_h36m.npy"):
        load_h36m_regressor(tmp_path)


def test_bad_gender():
    with pytest.raises(ValueError, match="gender"):
        resolve_smplx_path(gender="other")


# ---------------------------------------------------------------- SMPL-X npz validation


@pytest.mark.parametrize("key", sorted(REQUIRED))
def test_each_required_key_missing(tmp_path, small, key, fx):
    arrays = {k: v for k, v in small.items() if k != key}
    path = fx.write_npz(tmp_path / "SMPLX_NEUTRAL.npz", arrays)
    with pytest.raises(CorruptFileError) as e:
        validate_smplx_npz(path)
    msg = str(e.value)
    assert f"'{key}'" in msg and REQUIRED[key] in msg and "missing" in msg and SMPLX_URL in msg


@pytest.mark.parametrize("key, shape, expected", [
    ("posedirs", (300, 3, 485), "(V, 3, 486) with V = 300 (from 'v_template')"),
    ("weights", (300, 54), "(V, 55)"),
    ("J_regressor", (55, 301), "(55, V) with V = 300"),
    ("kintree_table", (2, 24), "(2, 55)"),
    ("hands_meanl", (15, 3), "(45,)"),
    ("lmk_bary_coords", (51, 2), "(51, 3)"),
    ("shapedirs", (300, 400), "(V, 3, S)"),
])
def test_wrong_shape_names_key_and_expected_shape(tmp_path, small, key, shape, expected, fx):
    arrays = dict(small, **{key: np.zeros(shape, np.float32)})
    path = fx.write_npz(tmp_path / "m.npz", arrays)
    with pytest.raises(CorruptFileError) as e:
        validate_smplx_npz(path)
    msg = str(e.value)
    assert f"key '{key}' has shape {tuple(shape)}" in msg and expected in msg


def test_value_checks(tmp_path, small, fx):
    bad_tree = small["kintree_table"].copy()
    bad_tree[0, 5] = 7  # parent after child
    for arrays, pattern in [
        (dict(small, kintree_table=bad_tree), r"kintree_table.*\[5\]"),
        (dict(small, f=small["f"] + 300), r"'f' holds indices"),
        (dict(small, lmk_faces_idx=small["lmk_faces_idx"] + 500), r"'lmk_faces_idx'.*F - 1 = 499"),
        (dict(small, shapedirs=np.zeros((300, 3, 350), np.float32)), r"350 columns"),
        (small, r"V = 300 vertices.*9929.*at least 9930"),
    ]:
        path = fx.write_npz(tmp_path / "m.npz", arrays)
        with pytest.raises(CorruptFileError, match=pattern):
            validate_smplx_npz(path)


def test_num_betas_against_layout(tmp_path, fx):
    v10 = fx.smplx_arrays(**SMALL, shape_cols=20, dense_cols=(range(20),))
    path = fx.write_npz(tmp_path / "v10.npz", v10)
    with pytest.raises(CorruptFileError, match=r"provides 10 shape components; num_betas=11.*v1\.0.*v1\.1"):
        validate_smplx_npz(path, num_betas=11)
    with pytest.raises(CorruptFileError, match="at least 9930"):  # num_betas=10 is fine; V is next
        validate_smplx_npz(path, num_betas=10)


def test_unreadable_archives(tmp_path, smplx_file):
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(smplx_file.read_bytes()[: 5_000_000])
    with pytest.raises(CorruptFileError, match="truncated"):
        validate_smplx_npz(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(CorruptFileError, match="not a readable npz"):
        validate_smplx_npz(garbage)
    with pytest.raises(CorruptFileError, match=r"\.npz files"):
        validate_smplx_npz(tmp_path / "model.pkl")


def test_load_full_and_sparse_regressor(tmp_path, smplx_file, fx):
    info = validate_smplx_npz(smplx_file, num_betas=11)
    assert (info.num_vertices, info.num_faces, info.shape_columns, info.max_betas) == (10475, 20908, 400, 300)
    ref = fx.smplx_arrays()
    arrays = load_smplx_npz(smplx_file)
    assert arrays["joint2num"] == {"pelvis": 0, "head": 15}
    np.testing.assert_array_equal(arrays["posedirs"], ref["posedirs"])
    sparse = dict(ref, J_regressor=np.array(scipy.sparse.csc_matrix(ref["J_regressor"]), dtype=object))
    path = fx.write_npz(tmp_path / "sparse.npz", sparse)
    out = load_smplx_npz(path)
    assert isinstance(out["J_regressor"], np.ndarray)
    np.testing.assert_array_equal(out["J_regressor"], ref["J_regressor"])


# ---------------------------------------------------------------- restricted unpickling


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_restricted_pickle_refuses_code(tmp_path, small, fx):
    marker = str(tmp_path / "pwned")
    blob = pickle.dumps({"v_template": _Evil(marker)}, protocol=2)
    with pytest.raises(CorruptFileError, match="Refusing to unpickle.*open"):
        restricted_pickle_load(io.BytesIO(blob), "evil")
    path = fx.write_npz(tmp_path / "evil.npz", dict(small, joint2num=np.array(_Evil(marker), dtype=object)))
    with pytest.raises(CorruptFileError, match="Refusing"):
        validate_smplx_npz(path)
    assert not (tmp_path / "pwned").exists()


def test_chumpy_pickle_gets_clean_ch_hint(tmp_path, monkeypatch, fx):
    mod = types.ModuleType("chumpy.ch")

    class Ch:  # stand-in for chumpy.ch.Ch, only to write the pickle
        pass

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
    path = fx.write_pkl(tmp_path / "SMPL_NEUTRAL.pkl", dict(fx.smpl_arrays(V=300, F=500), shapedirs=Ch()))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    with pytest.raises(CorruptFileError, match=r"chumpy.*clean_ch\.py"):
        load_smpl_model(path)


def test_truncated_pickle(tmp_path, smpl_file):
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(smpl_file.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match="truncated"):
        load_smpl_model(bad)


# ---------------------------------------------------------------- SMPL


def test_load_smpl_pkl_and_npz(tmp_path, smpl_file, fx):
    ref = fx.smpl_arrays()
    data = load_smpl_model(smpl_file, num_betas=10)
    assert isinstance(data["J_regressor"], np.ndarray) and data["J_regressor"].shape == (24, 6890)
    np.testing.assert_allclose(data["J_regressor"], ref["J_regressor"].toarray())
    assert data["bs_style"] == "lbs"
    dense = dict(ref, J_regressor=ref["J_regressor"].toarray())
    npz = fx.write_npz(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", dense)
    assert resolve_smpl_path(tmp_path) == npz
    np.testing.assert_allclose(load_smpl_model(npz)["posedirs"], ref["posedirs"])
    with pytest.raises(CorruptFileError, match="provides 10 shape components; num_betas=11"):
        load_smpl_model(smpl_file, num_betas=11)


def test_smpl_missing_key_and_shape(tmp_path, fx):
    ref = fx.smpl_arrays(V=300, F=500)
    missing = r"missing key\(s\) 'posedirs' \(expected shape \(V, 3, 207\)\)"
    with pytest.raises(CorruptFileError, match=missing):
        load_smpl_model(fx.write_pkl(tmp_path / "a.pkl", {k: v for k, v in ref.items() if k != "posedirs"}))
    bad = dict(ref, J_regressor=scipy.sparse.csc_matrix((24, 200)))
    with pytest.raises(CorruptFileError, match=r"'J_regressor' has shape \(24, 200\); expected \(24, V\)"):
        load_smpl_model(fx.write_pkl(tmp_path / "b.pkl", bad))
    with pytest.raises(CorruptFileError, match="must unpickle to a dict"):
        load_smpl_model(fx.write_pkl(tmp_path / "c.pkl", [1, 2]))
    with pytest.raises(CorruptFileError, match=r"V = 300 vertices.*at least 6788"):
        load_smpl_model(fx.write_pkl(tmp_path / "d.pkl", ref))


# ---------------------------------------------------------------- conversion assets


def test_smplx2smpl(tmp_path, monkeypatch, fx):
    m = np.random.default_rng(0).random((6, 10))
    path = fx.write_pkl(tmp_path / "utils" / "smplx2smpl.pkl", {"matrix": m})
    out = load_smplx2smpl(path, num_smpl_vertices=6, num_smplx_vertices=10)
    assert out.dtype == torch.float32 and out.shape == (6, 10)
    torch.testing.assert_close(out, torch.from_numpy(m).float())
    monkeypatch.setenv(BODY_MODELS_ENV, str(tmp_path))  # <root>/utils/smplx2smpl.pkl
    torch.testing.assert_close(load_smplx2smpl(num_smpl_vertices=6, num_smplx_vertices=10), out)
    with pytest.raises(CorruptFileError, match=r"'matrix' has shape \(6, 10\); expected \(6890, 10475\)"):
        load_smplx2smpl(path)
    sparse = fx.write_pkl(tmp_path / "s.pkl", {"matrix": scipy.sparse.csr_matrix(m)})
    torch.testing.assert_close(load_smplx2smpl(sparse, num_smpl_vertices=6, num_smplx_vertices=10), out)
    with pytest.raises(CorruptFileError, match="key 'matrix'"):
        load_smplx2smpl(fx.write_pkl(tmp_path / "k.pkl", {"M": m}))


def test_h36m_regressor_fortran(tmp_path):
    reg = np.asfortranarray(np.random.default_rng(0).random((17, 6890)))
    path = tmp_path / "J_regressor_h36m.npy"
    np.save(path, reg)
    assert np.load(path).flags.f_contiguous  # the real file's layout
    out = load_h36m_regressor(path)
    assert out.shape == (17, 6890) and out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, torch.from_numpy(np.ascontiguousarray(reg)).float())
    np.save(path, reg[:, :100])
    with pytest.raises(CorruptFileError, match=r"\(17, 100\); expected \(17, 6890\)"):
        load_h36m_regressor(path)
    np.save(path, np.array({"a": 1}, dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFileError, match="numeric"):
        load_h36m_regressor(path)


def test_nan_in_an_smpl_file_is_refused(tmp_path, fx):
    arrays = fx.smpl_arrays()
    w = arrays["weights"].copy()
    w[0, 0] = np.inf
    arrays["weights"] = w
    with pytest.raises(CorruptFileError, match=r"NaN or infinite.*'weights' \(1 of"):
        load_smpl_model(fx.write_pkl(tmp_path / "SMPL_NEUTRAL.pkl", arrays))

"""``recipes/dpose/eval.py`` on the data fixtures (3DPW / EMDB in their real formats) with licence-free body
files, against an independent numpy implementation of the protocols; on the synthetic split; and with files
missing."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from recipe_helpers import RECIPE, run_script

from hpskit.body import H36M_TO_J14, SMPLBody, load_h36m_regressor, load_smplx2smpl
from hpskit.data import CropConfig, EMDBNpz, ThreeDPW, ThreeDPWNpz
from hpskit.engine import load_config, read_jsonl
from hpskit.models import DPoSE, DPoSEConfig
from hpskit.testing.datasets import write_3dpw, write_3dpw_npz, write_emdb, write_emdb_npz

pytestmark = pytest.mark.slow  # runs the recipe in subprocesses

RES = 64


def _eval_module():
    spec = importlib.util.spec_from_file_location("dpose_eval", RECIPE / "eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_model")
    DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pw3d(tmp_path_factory):
    root = write_3dpw(tmp_path_factory.mktemp("pw3d"))
    return root, write_3dpw_npz(root)


@pytest.fixture(scope="module")
def emdb(tmp_path_factory):
    root = write_emdb(tmp_path_factory.mktemp("emdb"))
    return root, write_emdb_npz(root)


def _procrustes_np(X, Y):
    """Similarity transform of X onto Y (SPIN's compute_similarity_transform), written out in numpy."""
    mx, my = X.mean(0), Y.mean(0)
    X0, Y0 = X - mx, Y - my
    U, _, Vt = np.linalg.svd(X0.T @ Y0)
    Z = np.eye(3)
    Z[-1, -1] = np.sign(np.linalg.det(Vt.T @ U.T))
    R = Vt.T @ Z @ U.T
    s = np.trace(R @ X0.T @ Y0) / (X0 ** 2).sum()
    return s * X0 @ R.T + my


def _reference(model_dir, ds, body_root, protocol):
    """Per-sample errors in mm, computed sample by sample in float64 numpy."""
    net = DPoSE.from_pretrained(model_dir, body_model=str(body_root / "smplx" / "SMPLX_NEUTRAL.npz"))
    M = load_smplx2smpl(body_root).double().numpy()
    H = load_h36m_regressor(body_root).double().numpy()
    bodies = {g: SMPLBody(body_root, gender=g) for g in ("male", "female", "neutral")}
    out = {"mpjpe": [], "pa_mpjpe": [], "pve": []}
    for i in range(len(ds)):
        s = ds[i]
        with torch.no_grad():
            pred = net(s.img[None], s.bbox_info[None])
            vp = M @ net.body(pred).vertices[0].double().numpy()
            vg = bodies[s.gender](s.smpl_pose_rotmat[None], s.betas[None, :10]).vertices[0].double().numpy()
        if protocol == "dpose_h36m14":
            jp, jg = H @ vp, H @ vg
            rp, rg = jp[0], jg[0]
            jp, jg = jp[list(H36M_TO_J14)], jg[list(H36M_TO_J14)]
        else:
            jp = bodies["neutral"].J_regressor.double().numpy() @ vp
            jg = bodies[s.gender].J_regressor.double().numpy() @ vg
            rp, rg = (jp[1] + jp[2]) / 2, (jg[1] + jg[2]) / 2
        jp, jg = jp - rp, jg - rg
        out["mpjpe"].append(1000 * np.linalg.norm(jp - jg, axis=1).mean())
        out["pa_mpjpe"].append(1000 * np.linalg.norm(_procrustes_np(jp, jg) - jg, axis=1).mean())
        out["pve"].append(1000 * np.linalg.norm((vp - rp) - (vg - rg), axis=1).mean())
    return {k: np.array(v) for k, v in out.items()}


def _run(tmp_path, **kw):
    mod = _eval_module()
    args = [f"{k}={v}" for k, v in {"res": RES, "batch_size": 4, "num_workers": 0, "device": "cpu",
                                     "progress": False, "output": tmp_path / "res.json", **kw}.items()]
    cfg = load_config(mod.EvalConfig, None, args)
    with torch.no_grad():
        result = mod.run(cfg)
    assert json.loads((tmp_path / "res.json").read_text()) == json.loads(json.dumps(result))
    return result


def test_3dpw_paper_protocol_matches_numpy_reference(tmp_path, tiny_model, pw3d, body_root):
    root, npz = pw3d
    res = _run(tmp_path, model=tiny_model, dataset="3dpw", npz=npz, root=root, body_models=body_root)
    ds = ThreeDPWNpz(npz, root, crop=CropConfig(res=RES))
    n = len(np.load(npz)["imgname"])
    assert res["count"] == len(ds) == n == 7  # 7 rows, batch 4: the partial batch is scored too
    assert res["per_sequence"] == {"downtown_walkBridge_01": {**res["total"], "count": 7}}
    ref = _reference(tiny_model, ds, body_root, "dpose_h36m14")
    for k in ("mpjpe", "pa_mpjpe", "pve"):
        assert res["total"][k] == pytest.approx(ref[k].mean(), rel=1e-4, abs=1e-3), k
    assert res["total"]["pa_mpjpe"] < res["total"]["mpjpe"]


def test_emdb_official_protocol_matches_numpy_reference(tmp_path, tiny_model, emdb, body_root):
    root, npz = emdb
    res = _run(tmp_path, model=tiny_model, dataset="emdb", npz=npz, root=root, body_models=body_root,
               protocol="smpl24_hips")
    ds = EMDBNpz(npz, root, crop=CropConfig(res=RES))
    assert res["count"] == len(ds) == 4 and list(res["per_sequence"]) == ["P0_09_outdoor_walk"]
    assert set(res["total"]) == {"mpjpe", "pa_mpjpe", "pve", "pa_pve"}
    ref = _reference(tiny_model, ds, body_root, "smpl24_hips")
    for k in ("mpjpe", "pa_mpjpe", "pve"):
        assert res["total"][k] == pytest.approx(ref[k].mean(), rel=1e-4, abs=1e-3), k


def test_3dpw_raw_files_every_sample_scored(tmp_path, tiny_model, pw3d, body_root):
    root, _ = pw3d
    res = _run(tmp_path, model=tiny_model, dataset="3dpw", format="raw", root=root, body_models=body_root,
               batch_size=3)
    assert res["count"] == len(ThreeDPW(root)) == 7


def test_missing_licensed_files_fail_clearly(tmp_path, tiny_model, pw3d):
    root, npz = pw3d
    empty = tmp_path / "no_body_models"
    empty.mkdir()
    proc = run_script("eval.py", ["--config", str(RECIPE / "configs" / "eval_3dpw.yaml"),
                                  f"model={tiny_model}",
                                  f"npz={npz}", f"root={root}", f"body_models={empty}", "progress=false",
                                  f"output={tmp_path / 'r.json'}"], check=False,
                      env={"HPSKIT_BODY_MODELS": str(empty)})
    assert proc.returncode == 2
    assert "MissingFileError" in proc.stderr and "SMPL-X" in proc.stderr
    assert "smpl-x.is.tue.mpg.de" in proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_synthetic_split_matches_the_training_eval(tmp_path, smoke_run):
    """eval.py on the held-out synthetic split reproduces the final evaluation logged by the smoke run."""
    res = _run(tmp_path, model=smoke_run.dir / "export", dataset="synthetic", samples=4,
               **{"synthetic.backgrounds": "procedural"})
    logged = [r for r in read_jsonl(smoke_run.dir / "metrics.jsonl") if r["kind"] == "eval"][-1]
    assert res["count"] == 4
    for k in ("mpjpe", "pa_mpjpe", "pve"):
        assert res["total"][k] == pytest.approx(logged[k], rel=1e-5)
        assert res["baseline_mean_pose"][k] == pytest.approx(logged[f"baseline_{k}"], rel=1e-5)
    # A training checkpoint evaluates like the export made from it.
    ckpt = _run(tmp_path, model=smoke_run.dir / "checkpoints" / "step_00000004.pt", dataset="synthetic",
                samples=4,
                **{"synthetic.backgrounds": "procedural"})
    assert ckpt["total"] == res["total"]

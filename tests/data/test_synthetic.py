"""SyntheticHumans: schema, determinism, the fixed val split, and geometric consistency of every target.

Geometry is checked against quantities recomputed here independently: the body re-posed from the
batch's own parameters, projections written out with K, the crop camera written out from (center,
scale), and the BEDLAM depth normalisation of the data engineer's numpy implementation.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
import torch

from hpskit.data.sample import IMAGENET_MEAN, IMAGENET_STD, Sample, collate_samples
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans
from hpskit.render import render_silhouette

RES = 64


@pytest.fixture(scope="module")
def ds():
    return SyntheticHumans(config=SyntheticConfig(res=RES, val_size=6), batch_size=4, seed=3,
                           backgrounds="procedural")


@pytest.fixture(scope="module")
def batch(ds):
    return ds.generate(seed=11)


def _batch_tensors(b):
    return {f.name: getattr(b, f.name) for f in fields(b) if isinstance(getattr(b, f.name), torch.Tensor)}


def test_schema_matches_sample_validator_and_collate(batch):
    assert len(batch) == 4
    samples = []
    for i in range(len(batch)):
        kw = {f.name: getattr(batch, f.name) for f in fields(Sample)}
        kw = {k: (v[i] if isinstance(v, (torch.Tensor, list)) else v) for k, v in kw.items()}
        kw = {k: (bool(v) if k.startswith("has_") else v) for k, v in kw.items()}
        kw["index"] = int(kw["index"])
        samples.append(Sample(**kw).validate())  # shapes, dtypes, finiteness per the schema
    again = collate_samples(samples)
    for name, t in _batch_tensors(batch).items():
        assert torch.equal(getattr(again, name), t), name
    assert batch.img.shape == (4, 3, RES, RES) and batch.parts.dtype == torch.long
    assert batch.vertices.shape[1:] == (batch.vertices.shape[1], 3)
    assert batch.has_smplx.all() and not batch.has_smpl.any() and batch.has_vertices.all()
    assert batch.dataset == ["synthetic"] * 4 and batch.gender == ["neutral"] * 4


def test_ranges(batch):
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    rgb = batch.img * std + mean
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5
    assert batch.depth.min() >= 0 and batch.depth.max() <= 1
    assert batch.parts.min() >= 0 and batch.parts.max() <= 22
    assert (batch.joints3d[..., 2] > 0).all() and (batch.vertices[..., 2] > 0).all()
    R = batch.pose_rotmat
    eye = torch.eye(3).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(R.shape[:2]), atol=1e-5)
    assert set(batch.kp2d[..., 2].unique().tolist()) <= {0.0, 1.0}
    assert (batch.betas.abs() <= 3 + 1e-6).all()


def test_determinism(ds, batch):
    again = ds.generate(seed=11)
    for name, t in _batch_tensors(batch).items():
        assert torch.equal(getattr(again, name), t), name
    other = ds.generate(seed=12)
    assert not torch.equal(other.img, batch.img)
    assert not torch.equal(other.pose_rotmat, batch.pose_rotmat)


def test_val_split_is_fixed_and_independent_of_seed(ds):
    a = SyntheticHumans(body=ds.body, config=ds.config, split="val", batch_size=4, seed=0,
                        backgrounds="procedural")
    b = SyntheticHumans(body=ds.body, config=ds.config, split="val", batch_size=4, seed=99,
                        backgrounds="procedural")
    la, lb = list(a), list(b)
    assert len(a) == 2 and [len(x) for x in la] == [4, 2]
    assert torch.cat([x.index for x in la]).tolist() == list(range(6))
    for x, y in zip(la, lb):
        assert torch.equal(x.img, y.img) and torch.equal(x.joints3d, y.joints3d)
    train = list(SyntheticHumans(body=ds.body, config=ds.config, batch_size=4, num_batches=1,
                                 backgrounds="procedural"))
    assert len(train) == 1 and not torch.equal(train[0].joints3d, la[0].joints3d)


def test_joints_reposed_and_projected(ds, batch):
    out = ds.body(batch.pose_rotmat[:, :1], batch.pose_rotmat[:, 1:], batch.betas, transl=batch.transl)
    assert torch.allclose(out.joints[:, :24], batch.joints3d, atol=1e-5)
    X = batch.joints3d
    K = batch.K
    u = K[:, None, 0, 0] * X[..., 0] / X[..., 2] + K[:, None, 0, 2]
    v = K[:, None, 1, 1] * X[..., 1] / X[..., 2] + K[:, None, 1, 2]
    assert torch.allclose(torch.stack([u, v], -1), batch.kp2d[..., :2], atol=1e-2)
    W, H = batch.img_size[:, 0:1], batch.img_size[:, 1:2]
    inside = (u >= -0.5) & (u < W - 0.5) & (v >= -0.5) & (v < H - 0.5)
    assert torch.equal(batch.kp2d[..., 2] > 0, inside)
    assert torch.allclose(K[:, 0, 2:3], W / 2) and torch.allclose(K[:, 1, 2:3], H / 2)


def test_bbox_info_and_crop_affine(batch):
    c, s, K = batch.center, batch.scale, batch.K
    fx = K[:, 0, 0]
    expected = torch.stack([(c[:, 0] - K[:, 0, 2]) / fx, (c[:, 1] - K[:, 1, 2]) / fx, 200 * s / fx], 1)
    assert torch.allclose(batch.bbox_info, expected, atol=1e-6)
    A = batch.crop_to_img
    mid = torch.full((len(batch), 2), (RES - 1) / 2)
    assert torch.allclose((A[:, :, :2] @ mid[..., None])[..., 0] + A[:, :, 2], c, atol=1e-3)
    assert torch.allclose(A[:, 0, 0], 200 * s / RES, atol=1e-5)


def _crop_camera(batch):
    k = RES / (200 * batch.scale)
    A = torch.zeros(len(batch), 3, 3)
    A[:, 0, 0], A[:, 1, 1], A[:, 2, 2] = k, k, 1
    A[:, :2, 2] = (RES - 1) / 2 - k[:, None] * batch.center
    return A @ batch.K


def _inside_full_image(batch):
    r = torch.arange(RES, dtype=torch.float32)
    A = batch.crop_to_img
    u = A[:, 0, 0, None] * r + A[:, 0, 2, None]
    v = A[:, 1, 1, None] * r + A[:, 1, 2, None]
    iu = (u >= -0.5) & (u < batch.img_size[:, 0:1] - 0.5)
    iv = (v >= -0.5) & (v < batch.img_size[:, 1:2] - 0.5)
    return iv[:, :, None] & iu[:, None, :]


def test_parts_cover_the_silhouette_and_depth_matches(ds, batch):
    sil = render_silhouette(batch.vertices, ds.faces, _crop_camera(batch), (RES, RES)) > 0
    inside = _inside_full_image(batch)
    fg = batch.parts > 0
    assert torch.equal(fg, sil & inside)
    assert fg.any(dim=(1, 2)).all() and torch.equal(batch.has_parts, fg.flatten(1).any(1))
    assert torch.equal(batch.depth[:, 0] > 0, fg)  # depth is zero exactly on the background
    assert batch.has_depth.all() and torch.allclose(batch.depth.flatten(1).amax(1), torch.ones(4))
    rgb = batch.img * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    assert rgb.permute(1, 0, 2, 3)[:, ~inside].abs().max() < 1e-5  # zero padding outside the image


def test_depth_normalisation_matches_the_bedlam_reference():
    from hpskit.data import normalize_depth_percentile
    from hpskit.data.synthetic import normalize_depth_batch

    g = torch.Generator().manual_seed(0)
    depth = 2 + torch.rand(3, 20, 30, generator=g)
    mask = torch.rand(3, 20, 30, generator=g) < 0.5
    got, ok = normalize_depth_batch(depth, mask)
    assert ok.all()
    for i in range(3):
        ref = normalize_depth_percentile(depth[i].numpy().astype(np.float64), mask[i].numpy())
        ref = np.where(mask[i].numpy(), np.maximum(ref, 0.01), 0.0)
        np.testing.assert_allclose(got[i, 0].numpy(), ref, atol=1e-5)


def test_person_is_in_the_crop(batch):
    """The crop-projected pelvis lies in (or near) the crop: boxes follow the person."""
    A = batch.crop_to_img
    M, t = A[:, :, :2], A[:, :, 2]
    uv = torch.linalg.solve(M, (batch.kp2d[:, 0, :2] - t)[..., None])[..., 0]
    assert ((uv > -0.5 * RES) & (uv < 1.5 * RES)).all()


def test_dataloader_and_len(ds):
    loader = torch.utils.data.DataLoader(
        SyntheticHumans(body=ds.body, config=ds.config, split="val", batch_size=4, backgrounds="procedural"),
        batch_size=None)
    got = list(loader)
    assert len(got) == 2 and got[0].img.shape == (4, 3, RES, RES)
    with pytest.raises(TypeError):
        len(SyntheticHumans(body=ds.body, config=ds.config, backgrounds="procedural"))


def test_photo_backgrounds_from_a_folder(ds, tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.full((40, 60, 3), 60 + 100 * i, np.uint8)).save(tmp_path / f"bg{i}.png")
    cfg = SyntheticConfig(res=RES, background_weights=(0, 0, 0, 0, 1), image_blur=0, sensor_noise=0,
                          background_blur=0)
    b = SyntheticHumans(body=ds.body, config=cfg, batch_size=2, backgrounds=tmp_path).generate(seed=1)
    rgb = b.img * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    bg = (b.parts == 0) & _inside_full_image(b)
    vals = rgb.permute(1, 0, 2, 3)[:, bg] * 255
    assert ((vals - 60).abs().lt(1) | (vals - 160).abs().lt(1)).all()


def test_augment_hook_is_applied(ds):
    calls = []

    def aug(x, generator=None):
        calls.append(x.shape)
        return 1 - x

    b = SyntheticHumans(body=ds.body, config=ds.config, batch_size=2, backgrounds="procedural", augment=aug)
    plain = SyntheticHumans(body=ds.body, config=ds.config, batch_size=2, backgrounds="procedural")
    x, y = b.generate(seed=5), plain.generate(seed=5)
    assert calls == [(2, 3, RES, RES)]
    std, mean = torch.tensor(IMAGENET_STD)[:, None, None], torch.tensor(IMAGENET_MEAN)[:, None, None]
    assert torch.allclose(x.img * std + mean, 1 - (y.img * std + mean), atol=1e-5)
    assert torch.equal(x.joints3d, y.joints3d)


def test_sample_count_and_orientation_mostly_upright(ds):
    b = SyntheticHumans(body=ds.body, config=SyntheticConfig(res=32), batch_size=24,
                        backgrounds="procedural").generate(seed=2)
    # the body's up axis (+y) in the camera frame should mostly point up (camera −y)
    up = b.pose_rotmat[:, 0, :, 1]
    assert (up[:, 1] < -math.cos(math.radians(60))).float().mean() > 0.7


@pytest.mark.gpu
def test_gpu_batch_matches_cpu(ds, batch):
    """CPU twin: every other test. The same seed gives the same people on CUDA (draws are on the CPU)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    gpu = SyntheticHumans(body="standin", config=ds.config, batch_size=4, seed=3, device="cuda",
                          backgrounds="procedural").generate(seed=11)
    assert gpu.img.device.type == "cuda" and gpu.parts.dtype == torch.long
    for name in ("pose_rotmat", "betas", "transl", "K", "center", "scale", "bbox_info", "joints3d", "kp2d"):
        assert torch.allclose(getattr(gpu, name).cpu(), getattr(batch, name), atol=1e-3, rtol=1e-4), name
    agree = (gpu.parts.cpu() == batch.parts).float().mean()
    assert agree > 0.995
    assert torch.equal(gpu.depth[:, 0].cpu() > 0, gpu.parts.cpu() > 0)

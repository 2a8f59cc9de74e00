"""predict(): whole-image inference on renders of the stand-in body (CPU, random-weight HRNet-W18 model).

A scene of two images of different sizes (two people in the first, one in the second) is rendered with
hpskit.render at a known camera; the person boxes come from the rendered silhouettes, as a detector's would.
Random weights give meaningless poses, so the checks are on shapes, bookkeeping and the geometry that turns
the network's crop outputs into camera-frame meshes, pixels and image-space maps, each recomputed here
independently (numpy, float64).
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from hpskit.core import ConfigError, ShapeError
from hpskit.geometry import (
    boxes_xyxy_to_center_scale,
    cliff_bbox_info,
    crop_cam_to_full_transl,
    crop_images,
    full_transl_to_crop_cam,
)
from hpskit.models import DPoSE, DPoSEConfig, Prediction, predict
from hpskit.render import render_rgb, render_silhouette

SIZES = [(120, 160), (128, 96)]  # (H, W) of the two images
PEOPLE = [  # (image, translation (m), yaw (rad)): two people in image 0, one in image 1
    (0, (-0.55, 0.05, 4.2), 0.3),
    (0, (0.6, 0.1, 5.0), -0.5),
    (1, (0.0, 0.0, 3.6), 0.0),
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread_module):
    """One intra-op thread for this module (tests/conftest.py)."""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Random-weight HRNet-W18 D-PoSE with the stand-in body (expanded into the test session's data dir)."""
    from _standin import session_data_dir

    with session_data_dir(tmp_path_factory):
        torch.manual_seed(0)
        m = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="standin"))
    assert m.body_model.is_standin
    return m.eval()


def _upright(yaw: float) -> torch.Tensor:
    """Body → camera rotation of an upright person facing the camera, turned by ``yaw`` about the vertical."""
    c, s = math.cos(yaw), math.sin(yaw)
    turn = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return torch.diag(torch.tensor([1.0, -1.0, -1.0])) @ turn


@pytest.fixture(scope="module")
def scene(model):
    """Rendered uint8 images (list of (3, H, W)), per-image boxes from the silhouettes, the render K."""
    body = model.body_model
    g = torch.Generator().manual_seed(7)
    n = len(PEOPLE)
    pose = torch.eye(3).repeat(n, 22, 1, 1)
    pose[:, 0] = torch.stack([_upright(yaw) for _, _, yaw in PEOPLE])
    with torch.no_grad():
        verts = body.forward_pose(pose, 0.5 * torch.randn(n, 11, generator=g),
                                  transl=torch.tensor([t for _, t, _ in PEOPLE])).vertices
    images, boxes, Ks = [], [], []
    for i, (H, W) in enumerate(SIZES):
        K = torch.tensor([[[1.1 * W, 0.0, W / 2 + 3], [0.0, 1.1 * W, H / 2 - 2], [0.0, 0.0, 1.0]]])
        mine = [k for k, (img, _, _) in enumerate(PEOPLE) if img == i]
        faces = body.faces
        scene_v = torch.cat([verts[k] for k in mine])[None]
        scene_f = torch.cat([faces + j * verts.shape[1] for j in range(len(mine))])
        rgb = render_rgb(scene_v, scene_f, K, (H, W), background=(0.25, 0.35, 0.3))[0]
        images.append((rgb.clamp(0, 1) * 255).round().to(torch.uint8))
        bxs = []
        for k in mine:
            mask = render_silhouette(verts[k:k + 1], faces, K, (H, W))[0] > 0
            ys, xs = torch.nonzero(mask, as_tuple=True)
            bxs.append([float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1])
        boxes.append(torch.tensor(bxs))
        Ks.append(K[0])
    return images, boxes, torch.stack(Ks)


@pytest.fixture(scope="module")
def pred(model, scene) -> Prediction:
    images, boxes, _ = scene
    return predict(model, images, boxes)  # default K, 224 crops, the real path


# ------------------------------------------------------------------------------------------------- outputs


def test_shapes_dtypes_devices(model, scene, pred):
    n, V = len(PEOPLE), model.body_model.num_vertices
    assert len(pred) == n
    expected = {"pose_rotmat": (n, 22, 3, 3), "pose_6d": (n, 22, 6), "global_orient": (n, 3),
                "body_pose": (n, 21, 3), "betas": (n, 11), "cam_crop": (n, 3), "transl": (n, 3),
                "vertices": (n, V, 3), "joints": (n, 127, 3), "joints2d": (n, 127, 2), "K": (n, 3, 3),
                "boxes": (n, 4), "center": (n, 2), "scale": (n,), "bbox_info": (n, 3),
                "depth_crop": (n, 1, 224, 224), "part_labels_crop": (n, 224, 224)}
    for name, shape in expected.items():
        t = getattr(pred, name)
        assert tuple(t.shape) == shape, name
        assert t.device.type == "cpu", name
        assert t.dtype == (torch.long if name == "part_labels_crop" else torch.float32), name
        assert bool(torch.isfinite(t.float()).all()), name
        assert not t.requires_grad
    assert pred.part_labels_crop.dtype == torch.long
    assert int(pred.part_labels_crop.min()) >= 0 and int(pred.part_labels_crop.max()) <= 22
    assert torch.equal(pred.faces, model.body_model.faces)
    assert pred.image_sizes.tolist() == [list(s) for s in SIZES]
    for k, (img, _, _) in enumerate(PEOPLE):
        assert tuple(pred.depth[k].shape) == SIZES[img] and pred.depth[k].dtype == torch.float32
        assert tuple(pred.part_labels[k].shape) == SIZES[img] and pred.part_labels[k].dtype == torch.long
    assert bool((pred.transl[:, 2] > 0).all())


def test_image_index_bookkeeping(model, scene, pred):
    images, boxes, _ = scene
    assert pred.image_index.tolist() == [img for img, _, _ in PEOPLE]
    assert torch.equal(pred.boxes, torch.cat(boxes))
    assert pred.people_in(0).tolist() == [0, 1] and pred.people_in(1).tolist() == [2]
    # the second person of image 0, alone (a single image and an (n, 4) box): the same result
    alone = predict(model, images[0], boxes[0][1:], return_maps=False)
    assert alone.image_index.tolist() == [0] and alone.depth is None and alone.part_labels is None
    for name in ("pose_6d", "betas", "cam_crop", "transl", "joints2d"):
        torch.testing.assert_close(getattr(alone, name)[0], getattr(pred, name)[1], atol=1e-4, rtol=1e-4)


def test_default_intrinsics_per_image(pred):
    for k, (img, _, _) in enumerate(PEOPLE):
        H, W = SIZES[img]
        f = math.hypot(W, H)
        ref = torch.tensor([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], dtype=torch.float32)
        torch.testing.assert_close(pred.K[k], ref)


def test_box_to_crop_and_cliff_vector(pred):
    b = pred.boxes.double().numpy()
    c = (b[:, :2] + b[:, 2:]) / 2
    side = 1.2 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    np.testing.assert_allclose(pred.center.numpy(), c, rtol=1e-6)
    np.testing.assert_allclose(pred.scale.numpy(), side / 200, rtol=1e-6)
    K = pred.K.double().numpy()
    info = np.stack([(c[:, 0] - K[:, 0, 2]) / K[:, 0, 0], (c[:, 1] - K[:, 1, 2]) / K[:, 0, 0],
                     side / K[:, 0, 0]], -1)
    np.testing.assert_allclose(pred.bbox_info.numpy(), info, rtol=1e-5, atol=1e-7)


def test_camera_frame_meshes_and_pixels(model, pred):
    # vertices = body(pose, betas) + transl
    with torch.no_grad():
        body = model.body_model.forward_pose(pred.pose_rotmat, pred.betas)
    torch.testing.assert_close(pred.vertices, body.vertices + pred.transl[:, None], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pred.joints, body.joints + pred.transl[:, None], atol=1e-5, rtol=1e-5)
    # joints2d = K · joints (pinhole, float64 numpy)
    J, K = pred.joints.double().numpy(), pred.K.double().numpy()
    uv = np.stack([K[:, None, 0, 0] * J[..., 0] / J[..., 2] + K[:, None, 0, 2],
                   K[:, None, 1, 1] * J[..., 1] / J[..., 2] + K[:, None, 1, 2]], -1)
    np.testing.assert_allclose(pred.joints2d.double().numpy(), uv, atol=1e-3)
    # transl from the crop camera: tz = 2 fx / (200 s · s_cam), and back to the same crop camera
    s_cam = pred.cam_crop[:, 0].double().numpy()
    tz = 2 * K[:, 0, 0] / (200 * pred.scale.double().numpy() * s_cam)
    np.testing.assert_allclose(pred.transl[:, 2].double().numpy(), tz, rtol=1e-5)
    back = full_transl_to_crop_cam(pred.transl.double(), pred.center.double(), pred.scale.double(),
                                   pred.K.double())
    torch.testing.assert_close(back, pred.cam_crop.double(), atol=1e-5, rtol=1e-5)
    # axis-angle agrees with the matrices
    from hpskit.geometry import axis_angle_to_rotmat

    torch.testing.assert_close(axis_angle_to_rotmat(pred.global_orient), pred.pose_rotmat[:, 0], atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(axis_angle_to_rotmat(pred.body_pose), pred.pose_rotmat[:, 1:], atol=1e-5,
                               rtol=0)


def _bilinear(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample ``img`` (R, R) at (u, v) with pixel centres at integers and zeros outside."""
    R = img.shape[0]
    pad = np.pad(img, 1)
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    du, dv = u - u0, v - v0
    out = 0
    for a, wa in ((0, 1 - du), (1, du)):
        for b, wb in ((0, 1 - dv), (1, dv)):
            uu, vv = np.clip(u0 + a + 1, 0, R + 1), np.clip(v0 + b + 1, 0, R + 1)
            out = out + wa * wb * pad[vv, uu]
    return out


def test_pasted_maps(pred):
    for k, (img, _, _) in enumerate(PEOPLE):
        H, W = SIZES[img]
        cx, cy = pred.center[k].double().tolist()
        half = 100 * float(pred.scale[k])
        v, u = np.mgrid[0:H, 0:W].astype(np.float64)
        inside = (np.abs(u - cx) <= half) & (np.abs(v - cy) <= half)
        depth, labels = pred.depth[k].numpy(), pred.part_labels[k].numpy()
        assert inside.any() and (~inside).any()
        assert (depth[~inside] == 0).all() and (labels[~inside] == 0).all()
        # inside: the crop map sampled at u_crop = 224 / b · (u − cx) + 223 / 2 (independent bilinear)
        crop = pred.depth_crop[k, 0].double().numpy()
        uc, vc = 224 / (2 * half) * (u - cx) + 111.5, 224 / (2 * half) * (v - cy) + 111.5
        ref = _bilinear(crop, uc[inside], vc[inside])
        np.testing.assert_allclose(depth[inside], ref, atol=1e-4)
        core = inside & (np.abs(u - cx) < half - 2) & (np.abs(v - cy) < half - 2)
        assert (depth[core] > 0).all()
        assert labels.max() <= 22


def test_predict_equals_the_pipeline_written_out(model, scene):
    """Whole-image crop (crop_images), normalisation, network, CLIFF camera: predict gives the same numbers.

    predict crops each person from a window of its image; this checks the window bookkeeping, including crop
    squares that stick out of the image (the extra boxes at the borders).
    """
    images, boxes, K = scene
    boxes = [torch.cat([boxes[0], torch.tensor([[-6.0, -9.0, 40.0, 70.0]])]),
             torch.cat([boxes[1], torch.tensor([[50.0, 60.0, 99.0, 131.0]])])]
    p = predict(model, images, boxes, K=K, crop_size=64, return_maps=False)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    for i, img in enumerate(images):
        center, scale = boxes_xyxy_to_center_scale(boxes[i], rescale=1.2)
        n = len(center)
        full = img.float()[None].expand(n, -1, -1, -1) / 255
        crops = crop_images(full, center, scale, res=64, antialias=True)
        Ki = K[i].expand(n, 3, 3)
        with torch.no_grad():
            out = model((crops - mean) / std, cliff_bbox_info(center, scale, Ki))
        mine = p.people_in(i)
        torch.testing.assert_close(p.pose_6d[mine], out.pose_6d, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(p.cam_crop[mine], out.cam, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(p.transl[mine], crop_cam_to_full_transl(out.cam, center, scale, Ki),
                                   atol=1e-3, rtol=1e-4)


def test_uint8_float_and_numpy_inputs_agree(model, scene):
    images, boxes, _ = scene
    kw = dict(crop_size=64, return_maps=False)
    a = predict(model, images, boxes, **kw)
    b = predict(model, [im.float() / 255 for im in images], boxes, **kw)
    c = predict(model, [im.permute(1, 2, 0).numpy() for im in images], [x.numpy() for x in boxes], **kw)
    for other in (b, c):
        assert torch.equal(other.pose_6d, a.pose_6d) and torch.equal(other.vertices, a.vertices)
    assert tuple(a.depth_crop.shape) == (3, 1, 64, 64)


def test_single_image_box_forms(bare):
    """One image: its boxes as an (n, 4) tensor, a list of lists, one (4,) box, or a one-entry list."""
    image = np.zeros((50, 40, 3), np.uint8)
    two = [[2.0, 3.0, 20.0, 40.0], [18.0, 5.0, 38.0, 45.0]]
    kw = dict(crop_size=32, return_maps=False)
    for boxes, n in ((two, 2), (torch.tensor(two), 2), ([torch.tensor(two)], 2), (two[0], 1), ([two[:1]], 1)):
        p = predict(bare, image, boxes, **kw)
        assert p.image_index.tolist() == [0] * n and torch.equal(p.boxes, torch.tensor(two[:n]))


def test_batch_tensor_one_person_per_image_and_given_K(model, scene):
    images, boxes, K = scene
    batch = torch.stack([images[0], images[0]])  # (B, 3, H, W)
    one_each = torch.stack([boxes[0][0], boxes[0][1]])  # (B, 4): one person per image
    K_off = K[0].clone()
    K_off[0, 2] += 17.0  # principal point anywhere
    p = predict(model, batch, one_each, K=K_off, crop_size=64, batch_size=1)
    assert p.image_index.tolist() == [0, 1]
    torch.testing.assert_close(p.K, K_off.expand(2, 3, 3))
    expected_x = (p.center[:, 0] - K_off[0, 2]) / K_off[0, 0]
    torch.testing.assert_close(p.bbox_info[:, 0], expected_x)
    uv = p.joints[..., :2] / p.joints[..., 2:] * K_off[0, 0] + K_off[:2, 2]
    torch.testing.assert_close(p.joints2d, uv, atol=1e-3, rtol=1e-5)


def test_training_flags_are_restored(model, scene):
    images, boxes, _ = scene
    kw = dict(crop_size=64, return_maps=False)
    ref = predict(model, images[1], boxes[1], **kw)
    model.train()
    model.encoder.eval()  # a mixed state, e.g. a frozen encoder
    flags = {n: m.training for n, m in model.named_modules()}
    try:
        out = predict(model, images[1], boxes[1], **kw)
        assert {n: m.training for n, m in model.named_modules()} == flags
        assert torch.equal(out.pose_6d, ref.pose_6d)  # it ran in eval mode (BatchNorm running stats)
    finally:
        model.eval()


def test_outputs_are_ordinary_tensors(pred):
    for name, value in vars(pred).items():
        for t in value if isinstance(value, list) else [value]:
            if isinstance(t, torch.Tensor):
                assert not t.is_inference() and not t.requires_grad, name


@pytest.mark.gpu
def test_cuda_matches_cpu(model, scene):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images, boxes, _ = scene
    cpu = predict(model, images, boxes, crop_size=64)
    model.cuda()
    try:
        gpu = predict(model, images, boxes, crop_size=64)
    finally:
        model.cpu()
    assert gpu.vertices.device.type == "cuda" and gpu.depth[0].device.type == "cuda"
    torch.testing.assert_close(gpu.vertices.cpu(), cpu.vertices, atol=1e-3, rtol=1e-3)


# -------------------------------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def bare():
    """A tiny model without body model for the error tests (they fail before the forward)."""
    return DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none"))


def _img(H=40, W=30, dtype=torch.uint8):
    return torch.zeros(3, H, W, dtype=dtype)


BOX = torch.tensor([[5.0, 5.0, 20.0, 30.0]])


@pytest.mark.parametrize("images, boxes, kwargs, match", [
    ([_img(dtype=torch.int32)], [BOX], {}, "uint8 .* or float"),
    ([torch.zeros(4, 40, 30)], [BOX], {}, r"alpha with x\[:3\]"),
    ([torch.zeros(40, 30, 3)], [BOX], {}, "channels-last"),
    (torch.zeros(2, 1, 40, 30), BOX.repeat(2, 1), {}, "must have shape"),
    ([_img(dtype=torch.float32) + 255], [BOX], {}, "by 255"),
    ([np.full((40, 30, 3), 200.0, np.float32)], [BOX], {}, "by 255"),
    ([_img(dtype=torch.float32).index_fill(1, torch.tensor([3]), float("nan"))], [BOX], {}, "NaN"),
    ([np.zeros((40, 30), np.uint8)], [BOX], {}, r"\(H, W, 3\)"),
    ([_img()], [torch.tensor([[20.0, 5.0, 20.0, 30.0]])], {}, "empty"),
    ([_img()], [torch.tensor([[5.0, 30.0, 20.0, 10.0]])], {}, "empty"),
    ([_img()], [torch.tensor([[float("nan"), 5.0, 20.0, 30.0]])], {}, "NaN"),
    ([_img()], [torch.tensor([[40.0, 5.0, 60.0, 30.0]])], {}, "entirely outside"),
    ([_img()], [torch.tensor([[-30.0, -40.0, -1.0, -2.0]])], {}, "entirely outside"),
    ([_img(), _img()], BOX.repeat(3, 1), {}, "3 boxes for 2 images"),
    ([_img(), _img()], [BOX], {}, "list of 1 entries for 2 images"),
    ([_img()], [torch.zeros(1, 5)], {}, "boxes"),
    ([_img(), _img()], [BOX, BOX], {"K": torch.eye(3).repeat(3, 1, 1)}, "`K` must have shape"),
    ([_img()], [BOX], {"K": torch.zeros(3, 4)}, "`K` must have shape"),
    ([_img()], [BOX], {"K": torch.diag(torch.tensor([0.0, 1.0, 1.0]))}, "positive focal"),
    ([_img(), _img()], [torch.zeros(0, 4), torch.zeros(0, 4)], {}, "no person"),
    ("image.png", [BOX], {}, "images"),
])
def test_bad_inputs_raise_clear_errors(bare, images, boxes, kwargs, match):
    with pytest.raises(ShapeError, match=match):
        predict(bare, images, boxes, **kwargs)


def test_bad_settings(bare):
    with pytest.raises(ConfigError, match="box_rescale"):
        predict(bare, [_img()], [BOX], box_rescale=0)
    with pytest.raises(ConfigError, match="batch_size"):
        predict(bare, [_img()], [BOX], batch_size=0)


def test_authors_crop_mode_equals_the_authors_pipeline_written_out(model, scene):
    """crop_mode="authors": the integer window + skimage resize of each person, then the same network."""
    from hpskit.geometry import crop_images_authors

    images, boxes, K = scene
    boxes = [torch.cat([boxes[0], torch.tensor([[-6.3, -9.2, 40.1, 70.7]])]), boxes[1]]
    p = predict(model, images, boxes, K=K, crop_size=64, return_maps=False, crop_mode="authors",
                box_rescale=1.0)
    exact = predict(model, images, boxes, K=K, crop_size=64, return_maps=False, box_rescale=1.0)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    for i, img in enumerate(images):
        center, scale = boxes_xyxy_to_center_scale(boxes[i].double(), rescale=1.0)
        n = len(center)
        crops = crop_images_authors(img.float()[None].expand(n, -1, -1, -1) / 255, center, scale, 64)
        with torch.no_grad():
            info = cliff_bbox_info(center.float(), scale.float(), K[i].expand(n, 3, 3))
            out = model((crops - mean) / std, info)
        torch.testing.assert_close(p.pose_6d[p.people_in(i)], out.pose_6d, atol=1e-4, rtol=1e-4)
    assert not torch.equal(p.pose_6d, exact.pose_6d)  # the mode changes what the network sees


def test_crop_mode_and_normalisation_come_from_the_model_config(model, scene):
    images, boxes, _ = scene
    kw = dict(crop_size=64, return_maps=False)
    explicit = predict(model, images, boxes, crop_mode="authors", **kw)
    old = model.config
    try:
        model.config = dataclasses.replace(old, crop_mode="authors")
        assert torch.equal(predict(model, images, boxes, **kw).pose_6d, explicit.pose_6d)
        model.config = dataclasses.replace(old, image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0))
        unnormalised = predict(model, images, boxes, **kw).pose_6d
    finally:
        model.config = old
    assert not torch.equal(unnormalised, predict(model, images, boxes, **kw).pose_6d)
    with pytest.raises(ConfigError, match="crop mode"):
        predict(model, images, boxes, crop_mode="spin", **kw)


def test_predict_from_threads_on_a_train_mode_model(model, scene):
    """Issue 16 item 7: threads sharing a train-mode model give the sequential results and leave its flags
    and BatchNorm buffers untouched."""
    images, boxes, _ = scene
    kw = dict(crop_size=64, return_maps=False)
    jobs = [(images[k % 2], boxes[k % 2]) for k in range(12)]
    model.train()
    model.encoder.eval()
    flags = {n: m.training for n, m in model.named_modules()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    try:
        sequential = [predict(model, im, bx, **kw).pose_6d for im, bx in jobs]
        with ThreadPoolExecutor(max_workers=6) as pool:
            threaded = list(pool.map(lambda job: predict(model, job[0], job[1], **kw).pose_6d, jobs))
        assert {n: m.training for n, m in model.named_modules()} == flags
        for n, b in model.named_buffers():
            assert torch.equal(b, buffers[n]), n
    finally:
        model.eval()
    for a, b in zip(sequential, threaded):
        assert torch.equal(a, b)


def test_boxes_none_on_an_empty_picture_is_a_clear_error(bare):
    """No boxes: the built-in detector looks, finds nobody in a blank picture, and says so."""
    from hpskit.core import NoPersonError

    with pytest.raises(NoPersonError):
        predict(bare, [np.zeros((96, 128, 3), np.uint8)])


def test_read_only_numpy_image_is_taken_without_a_warning():
    """``np.asarray(PIL image)`` is read-only: it is copied (torch would warn on every call), not changed."""
    import warnings

    from hpskit.models.inputs import _as_images

    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    img.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (out,), single = _as_images(img)
    assert single and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), img)


def test_depth_map_false_keeps_the_pose_and_skips_the_depth(model, scene):
    """depth_map=False (the lean CPU path) skips only the depth decoder's full-resolution layers."""
    images, boxes, K = scene
    kw = dict(K=K, crop_size=64, return_maps=False)
    ref = predict(model, images, boxes, **kw)
    lean = predict(model, images, boxes, depth_map=False, **kw)
    for name in ("pose_rotmat", "betas", "cam_crop", "transl", "vertices", "part_labels_crop"):
        assert torch.equal(getattr(lean, name), getattr(ref, name)), name
    assert lean.depth_crop is None and ref.depth_crop is not None
    with_maps = predict(model, images, boxes, K=K, crop_size=64, depth_map=False)
    assert with_maps.depth is None and len(with_maps.part_labels) == len(with_maps)


def test_predict_names_keep_their_old_import_paths():
    """predict.py was split (inputs, prediction, geometry.windows); every old path gives the same object."""
    import importlib

    import hpskit.models as M
    from hpskit.models import inputs, prediction

    P = importlib.import_module("hpskit.models.predict")  # the module (hpskit.models.predict is the function)
    homes = {"ImagesLike": inputs, "BoxesLike": inputs, "PreparedInputs": prediction,
             "ChunkResult": prediction, "Prediction": prediction}
    for name in P.__all__:
        home = homes.get(name, P)
        assert getattr(P, name) is getattr(home, name), name
        assert name in home.__all__, name
    assert M.Prediction is prediction.Prediction and M.predict is P.predict

import numpy as np
import pytest
import torch

from hpskit.core import ConfigError, ShapeError
from hpskit.geometry import (
    apply_affine,
    boxes_xyxy_to_center_scale,
    crop_affine,
    crop_images,
    invert_affine,
    paste_back,
)


def _bilinear_zero_pad_numpy(img, u, v):
    """Independent reference: bilinear sample of img (C, H, W) at (u, v), taps outside → 0."""
    C, H, W = img.shape
    u0, v0 = int(np.floor(u)), int(np.floor(v))
    out = np.zeros(C)
    for dv in (0, 1):
        for du in (0, 1):
            uu, vv = u0 + du, v0 + dv
            w = (1 - abs(u - uu)) * (1 - abs(v - vv))
            if 0 <= uu < W and 0 <= vv < H:
                out += w * img[:, vv, uu]
    return out


def _crop_numpy(img, center, scale, res):
    """Crop pixel (i, j) centre sits at image c + (j − (res − 1)/2) · b/res (docs/conventions.md)."""
    b = 200.0 * scale
    out = np.zeros((img.shape[0], res, res))
    for i in range(res):
        for j in range(res):
            u = center[0] + (j - (res - 1) / 2) * b / res
            v = center[1] + (i - (res - 1) / 2) * b / res
            out[:, i, j] = _bilinear_zero_pad_numpy(img, u, v)
    return out


def test_boxes_to_center_scale():
    c, s = boxes_xyxy_to_center_scale(torch.tensor([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 300.0, 100.0]]),
                                      rescale=1.2)
    assert torch.equal(c, torch.tensor([[30.0, 70.0], [150.0, 50.0]]))
    torch.testing.assert_close(s, torch.tensor([1.2 * 100 / 200, 1.2 * 300 / 200]))


def test_crop_affine_centre_edges_and_inverse():
    c = torch.tensor([[100.0, 50.0], [7.25, -3.0]], dtype=torch.float64)
    s = torch.tensor([1.0, 0.37], dtype=torch.float64)
    res = 224
    A = crop_affine(c, s, res)
    torch.testing.assert_close(apply_affine(A, c[:, None]), torch.full((2, 1, 2), (res - 1) / 2,
                                                                        dtype=torch.float64))
    # the square's edges land on the crop's pixel edges −0.5 and res − 0.5
    half = (100 * s)[:, None, None]
    corners = torch.cat([c[:, None] - half, c[:, None] + half], dim=1)
    edges = torch.tensor([[-0.5, -0.5], [res - 0.5, res - 0.5]], dtype=torch.float64).expand(2, 2, 2)
    torch.testing.assert_close(apply_affine(A, corners), edges)
    pts = torch.randn(2, 9, 2, dtype=torch.float64) * 100
    torch.testing.assert_close(apply_affine(invert_affine(A), apply_affine(A, pts)), pts)
    # invert_affine on a general (rotating, shearing) map
    G = torch.randn(3, 2, 3, dtype=torch.float64)
    G[:, :, :2] += 2 * torch.eye(2, dtype=torch.float64)
    p = torch.randn(3, 5, 2, dtype=torch.float64)
    torch.testing.assert_close(apply_affine(G, apply_affine(invert_affine(G), p)), p)


def test_crop_images_matches_numpy_reference():
    gen = torch.Generator().manual_seed(1)
    img = torch.rand(2, 2, 13, 17, generator=gen, dtype=torch.float64)
    # second box hangs over the image's top-left corner (zero padding), non-integer scale
    c = torch.tensor([[8.3, 6.1], [1.2, 2.7]], dtype=torch.float64)
    s = torch.tensor([9.5 / 200, 11.0 / 200], dtype=torch.float64)
    res = 7
    out = crop_images(img, c, s, res=res)
    assert out.shape == (2, 2, res, res)
    for b in range(2):
        ref = _crop_numpy(img[b].numpy(), c[b].numpy(), float(s[b]), res)
        np.testing.assert_allclose(out[b].numpy(), ref, atol=1e-12)
    # crop pixel (0, 0) of box 2 samples image (−3.5, −2.0): every tap is padding
    assert (out[1, :, 0, 0] == 0).all()


def test_antialias_matches_skimage_resize_inside():
    skimage_transform = pytest.importorskip("skimage.transform")
    img = torch.rand(1, 2, 80, 90, dtype=torch.float64)
    x0, y0, b, res = 20, 15, 48, 16  # window img[15:63, 20:68], downsampled ×3
    c = torch.tensor([[x0 + (b - 1) / 2, y0 + (b - 1) / 2]], dtype=torch.float64)
    s = torch.tensor([b / 200], dtype=torch.float64)
    out = crop_images(img, c, s, res=res, antialias=True)[0].numpy()
    window = img[0, :, y0:y0 + b, x0:x0 + b].numpy().transpose(1, 2, 0)
    ref = skimage_transform.resize(window, (res, res), order=1, anti_aliasing=True).transpose(2, 0, 1)
    # skimage blurs the window alone (reflecting at its edges); hpskit blurs the whole image
    np.testing.assert_allclose(out[:, 3:-3, 3:-3], ref[:, 3:-3, 3:-3], atol=1e-12)
    plain = crop_images(img, c, s, res=res)[0].numpy()
    assert np.abs(plain - ref)[:, 3:-3, 3:-3].max() > 0.1
    # upsampling crops are not blurred
    c2, s2 = torch.tensor([[40.0, 40.0]], dtype=torch.float64), torch.tensor([8 / 200], dtype=torch.float64)
    up = crop_images(img, c2, s2, res=16, antialias=True)
    torch.testing.assert_close(up, crop_images(img, c2, s2, res=16))


def test_crop_integer_aligned_is_exact_slice_and_nearest():
    img = torch.rand(1, 3, 30, 40)
    c = torch.tensor([[15.5, 10.5]])  # u_crop = u − 12, v_crop = v − 7
    s = torch.tensor([8 / 200])
    for mode in ("bilinear", "nearest"):
        torch.testing.assert_close(crop_images(img, c, s, res=8, mode=mode)[0], img[0, :, 7:15, 12:20])


def test_paste_back_inverts_crop_inside_box_exact():
    img = torch.rand(2, 3, 30, 40)
    c = torch.tensor([[15.5, 10.5], [20.5, 15.5]])
    s = torch.tensor([8 / 200, 8 / 200])
    back = paste_back(crop_images(img, c, s, res=8), c, s, (30, 40))
    torch.testing.assert_close(back[0, :, 7:15, 12:20], img[0, :, 7:15, 12:20])
    torch.testing.assert_close(back[1, :, 12:20, 17:25], img[1, :, 12:20, 17:25])
    mask = torch.zeros(30, 40, dtype=torch.bool)
    mask[7:15, 12:20] = True
    assert (back[0][:, ~mask] == 0).all()


def test_paste_back_inverts_crop_scaled_on_linear_image():
    # Bilinear resampling reproduces a linear ramp exactly, so crop → paste is the identity inside the
    # box (away from its one-pixel border) at any scale.
    H, W = 60, 80
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64),
                          indexing="ij")
    img = torch.stack([0.3 * u + 0.1 * v, -0.2 * u + 0.5 * v + 3])[None]
    c = torch.tensor([[40.3, 29.8]], dtype=torch.float64)
    s = torch.tensor([31.0 / 200], dtype=torch.float64)
    crop = crop_images(img, c, s, res=48)  # upsampling ×48/31
    back = paste_back(crop, c, s, (H, W))
    inner = (slice(None), slice(16, 44), slice(27, 54))  # inside [c − 15.5 + 1, c + 15.5 − 1]
    torch.testing.assert_close(back[0][inner], img[0][inner])


def test_gradcheck_crop_and_paste():
    img = torch.rand(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    c = torch.tensor([[3.3, 2.6]], dtype=torch.float64)
    s = torch.tensor([5.0 / 200], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: crop_images(x, c, s, res=4), (img,))
    m = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: paste_back(x, c, s, (6, 7)), (m,))


def test_errors():
    c, s = torch.zeros(1, 2), torch.ones(1)
    with pytest.raises(ShapeError,
                       match=r"crop_images: `images` must have shape \(B, C, H, W\); got \(3, 8, 8\)"):
        crop_images(torch.zeros(3, 8, 8), c, s)
    with pytest.raises(ShapeError, match=r"`images` must be a float tensor; got dtype torch.uint8"):
        crop_images(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), c, s)
    with pytest.raises(ConfigError, match=r"`mode` must be 'bilinear', 'nearest' or 'bicubic'; got 'area'"):
        crop_images(torch.zeros(1, 3, 8, 8), c, s, mode="area")
    with pytest.raises(ShapeError,
                       match=r"paste_back: `maps` must have shape \(B, C, R, R\); got \(1, 1, 4, 5\)"):
        paste_back(torch.zeros(1, 1, 4, 5), c, s, (8, 8))
    with pytest.raises(ShapeError, match=r"`boxes` must have shape \(B, 4\); got \(4\)"):
        boxes_xyxy_to_center_scale(torch.zeros(4))


def test_crop_names_keep_their_old_import_paths():
    """The crop module was split (boxes, crop_authors, antialias); every old path gives the same object."""
    import hpskit.geometry as G
    from hpskit.geometry import antialias, boxes, crop, crop_authors

    homes = {"boxes_xyxy_to_center_scale": boxes, "crop_affine": boxes, "invert_affine": boxes,
             "apply_affine": boxes, "authors_crop_window": crop_authors, "resize_like_skimage": crop_authors,
             "copy_window": crop_authors, "crop_images_authors": crop_authors}
    assert set(homes) < set(crop.__all__)
    for name in crop.__all__:
        home = homes.get(name, crop)
        assert getattr(crop, name) is getattr(home, name), name
        assert name in home.__all__, name
        if name != "copy_window":  # never re-exported from the package
            assert getattr(G, name) is getattr(home, name), name
    assert crop._antialias is antialias._antialias and crop._pixel_grid is boxes._pixel_grid

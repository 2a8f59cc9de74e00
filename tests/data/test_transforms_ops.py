"""The photometric operations one by one, against independent references or hand-derived cases.

References: kornia's single-image ``equalize_clahe`` / ``equalize`` / HLS and motion-blur functions,
OpenCV's CLAHE and colour conversion (the Albumentations path), PIL's JPEG codec and ``ImageOps.equalize``,
Python's ``colorsys``, and plain-Python re-derivations of OpenCV's tile LUT.
"""

from __future__ import annotations

import colorsys
import io
import warnings

import kornia
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from hpskit.core import ShapeError
from hpskit.data.transforms import OP_NAMES, PhotometricAugment, PhotometricConfig
from hpskit.data.transforms._clahe import clahe_levels, clahe_rgb
from hpskit.data.transforms._color import (
    equalize_images,
    grayscale,
    hue_saturation_value,
    random_brightness_contrast,
    random_gamma,
    random_hue_saturation_value,
    random_posterize,
    random_snow,
    snow,
)
from hpskit.data.transforms._compression import (
    _levels,
    jpeg_quant_tables,
    jpeg_roundtrip,
    jpeg_simulated,
    random_jpeg,
)
from hpskit.data.transforms._ops import (
    box_blur_per_sample,
    motion_blur_per_sample,
    random_box_blur,
    random_downscale,
    random_erasing,
    random_motion_blur,
    random_rain,
    to_device,
)


def _texture(B, C, H, W, seed=0, coarse=6, noise=0.4):
    """Smooth random colour field plus per-pixel noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(B, C, coarse, coarse, generator=g), size=(H, W), mode="bilinear")
    return ((1 - noise) * base + noise * torch.rand(B, C, H, W, generator=g)).clamp(0, 1)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _psnr(a, b):
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


# ---------------------------------------------------------------------------------------------- CLAHE


def _opencv_tile_lut(levels: np.ndarray, clip: float) -> np.ndarray:
    """OpenCV's CLAHE LUT of one tile, written out as its loops (clahe.cpp, CLAHE_CalcLut_Body)."""
    hist = np.bincount(levels.ravel().astype(np.int64), minlength=256).astype(np.int64)
    n = levels.size
    if clip > 0:
        limit = max(int(clip * n / 256), 1)
        clipped = int(np.maximum(hist - limit, 0).sum())
        hist = np.minimum(hist, limit)
        share, residual = clipped // 256, clipped % 256
        hist += share
        if residual:
            step = max(256 // residual, 1)
            i = 0
            while i < 256 and residual > 0:
                hist[i] += 1
                i += step
                residual -= 1
    cdf = np.cumsum(hist)
    return np.array([round(float(np.float32(c) * np.float32(255.0 / n))) for c in cdf], dtype=np.float64)


@pytest.mark.parametrize("size", [(64, 64), (224, 224), (50, 70), (37, 45)])
def test_clahe_levels_matches_kornia(size):
    """Per-image clips against kornia's single-image ``equalize_clahe`` (which claims OpenCV parity).

    Both count each 8-bit level in its own bin, clip/redistribute as OpenCV, round the LUT and interpolate
    at the tile centres (reflect padding for the 50×70 and 37×45 images), so only float rounding can
    differ: at most one LUT entry one level off at an exact .5 tie (≤ 1 level), else ~1e-5 from the
    order of the interpolation arithmetic.
    """
    H, W = size
    x = (_texture(4, 1, H, W) * 255).round() / 255
    clips = torch.tensor([1.0, 2.5, 4.0, 40.0])
    ours = clahe_levels((x[:, 0] * 255).round(), clips)
    assert ours.shape == (4, H, W) and ours.dtype == torch.float32
    for i, c in enumerate(clips.tolist()):
        ref = kornia.enhance.equalize_clahe(x[i:i + 1], float(c), (8, 8))[0, 0] * 255
        d = (ours[i] - ref).abs()
        assert d.mean() < 0.01 and d.max() <= 1.0 + 1e-3, (c, float(d.mean()), float(d.max()))
    assert (ours - x[:, 0] * 255).abs().mean() > 5  # it did equalise


def test_clahe_levels_per_image_clip_equals_separate_calls():
    lv = (_texture(3, 1, 48, 40, seed=1)[:, 0] * 255).round()
    clips = torch.tensor([1.0, 3.0, 0.0])
    batched = clahe_levels(lv, clips)
    for i, c in enumerate(clips.tolist()):
        assert torch.equal(batched[i], clahe_levels(lv[i:i + 1], c)[0])


@pytest.mark.parametrize("clip", [1.0, 4.0, 0.0])
def test_clahe_constant_image_stays_constant(clip):
    out = clahe_levels(torch.full((1, 64, 64), 77.0), clip)
    assert float(out.max() - out.min()) < 1e-4
    if clip == 0.0:  # no clipping: every pixel is at the top of its tile's cdf
        assert torch.allclose(out, torch.full_like(out, 255.0))


def test_clahe_huge_clip_is_plain_tile_equalisation():
    """Each 8×8 tile holds levels 50 (left half) and 100 (right half): LUT[50] = round(32·255/64) = 128
    (127.5, half to even), LUT[100] = 255; all tiles are alike, so the interpolation changes nothing."""
    lv = torch.where(torch.arange(64) % 8 < 4, 50.0, 100.0).expand(1, 64, 64).contiguous()
    out = clahe_levels(lv, 1e6)
    assert torch.equal(out, torch.where(lv == 50, 128.0, 255.0))


@pytest.mark.parametrize("clip", [2.0, 4.0, 40.0, 1e6])
def test_clahe_tile_centres_equal_hand_luts(clip):
    """Odd 15×15 tiles: the pixel at a tile's centre reads only that tile's LUT, which is re-derived here
    with OpenCV's own loops (clip limit, even share, residual every 256 // r bins, rounded cdf)."""
    g = _gen(3)
    lv = torch.randint(100, 121, (1, 120, 120), generator=g).float()  # narrow range: bins overflow the limit
    lv[:, :60] += torch.randint(0, 60, (1, 60, 120), generator=g).float()
    out = clahe_levels(lv, clip)
    arr = lv[0].numpy()
    for ty in range(8):
        for tx in range(8):
            lut = _opencv_tile_lut(arr[15 * ty:15 * ty + 15, 15 * tx:15 * tx + 15], clip)
            y, x = 15 * ty + 7, 15 * tx + 7
            assert float(out[0, y, x]) == lut[int(arr[y, x])], (ty, tx)


def test_clahe_levels_against_opencv():
    """cv2.createCLAHE at 224² (28-pixel tiles). Differences: OpenCV rounds its output to integers
    (≤ 0.5) and interpolates half a pixel earlier than the tile centres (a fraction 1/56 of the LUT step
    between neighbouring tiles), so a level or so on average and a few at most."""
    cv2 = pytest.importorskip("cv2")
    lv = (_texture(1, 1, 224, 224, seed=2) * 255).round()
    for clip in (1.0, 2.0, 4.0):
        ours = clahe_levels(lv[:, 0], clip)[0]
        ref = cv2.createCLAHE(clipLimit=clip, tileGridSize=(8, 8)).apply(lv[0, 0].numpy().astype(np.uint8))
        d = (ours - torch.from_numpy(ref).float()).abs()
        assert d.mean() < 1.5 and d.quantile(0.99) < 4 and d.max() < 8, (clip, float(d.mean()))


def test_clahe_rgb_equals_kornia_lab_path():
    """Own LAB round trip (only L changes) = kornia rgb_to_lab → CLAHE on round(L·2.55) → lab_to_rgb."""
    x = _texture(3, 3, 48, 48, seed=4)
    clips = torch.tensor([1.0, 2.0, 4.0])
    lab = kornia.color.rgb_to_lab(x)
    light = clahe_levels((lab[:, 0] * 2.55).round().clamp(0, 255), clips) * (100 / 255)
    ref = kornia.color.lab_to_rgb(torch.cat([light[:, None], lab[:, 1:]], 1))
    out = clahe_rgb(x, clips)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert (out - ref).abs().max() < 1e-4
    assert (out - x).abs().mean() > 0.02


def test_clahe_rgb_keeps_grey_grey():
    grey = _texture(2, 1, 32, 32, seed=5).expand(2, 3, 32, 32)
    out = clahe_rgb(grey, 3.0)
    assert (out[:, 0] - out[:, 1]).abs().max() < 1e-4 and (out[:, 1] - out[:, 2]).abs().max() < 1e-4
    assert (out - grey).abs().mean() > 0.02


def test_clahe_rgb_close_to_albumentations_opencv_path():
    """Albumentations' CLAHE on an RGB uint8 image: cv2 RGB→LAB (8-bit), CLAHE on L, LAB→RGB. Beyond the
    CLAHE differences above, OpenCV's 8-bit LAB rounds a and b and the result to integers. kornia's
    per-RGB-channel CLAHE (what RandomClahe did) is shown to be far from it."""
    cv2 = pytest.importorskip("cv2")
    u8 = (_texture(1, 3, 224, 224, seed=6) * 255).round().to(torch.uint8)
    lab = cv2.cvtColor(u8[0].permute(1, 2, 0).numpy().copy(), cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    ref = torch.from_numpy(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)).permute(2, 0, 1).float()
    ours = clahe_rgb(u8.float() / 255, 2.0)[0] * 255
    d = (ours - ref).abs()
    assert d.mean() < 2.0 and d.quantile(0.99) < 6, (float(d.mean()), float(d.quantile(0.99)))
    per_channel = kornia.enhance.equalize_clahe(u8.float() / 255, 2.0, (8, 8))[0] * 255
    assert (per_channel - ref).abs().mean() > 5 * d.mean()


def test_clahe_rejects_bad_input():
    with pytest.raises(ShapeError, match="too small"):
        clahe_levels(torch.zeros(1, 3, 3), 2.0)
    with pytest.raises(ShapeError, match=r"\(N, H, W\)"):
        clahe_levels(torch.zeros(1, 1, 8, 8), 2.0)


def test_clahe_op_in_augment_changes_lightness_only():
    """Through PhotometricAugment: a, b of LAB stay (where nothing clips), L changes."""
    x = 0.2 + 0.6 * _texture(2, 3, 64, 64, seed=7)
    out = PhotometricAugment(PhotometricConfig.single("clahe"))(x, seed=0)
    lab_in, lab_out = kornia.color.rgb_to_lab(x), kornia.color.rgb_to_lab(out)
    inside = ((out > 0.01) & (out < 0.99)).all(1)
    assert (lab_out[:, 0] - lab_in[:, 0]).abs().mean() > 2
    assert (lab_out[:, 1:] - lab_in[:, 1:]).abs().amax(1)[inside].mean() < 0.05


# ---------------------------------------------------------------------------------------------- equalize


def test_equalize_matches_kornia_and_pil():
    g = _gen(8)
    levels = torch.randint(30, 200, (3, 3, 40, 40), generator=g).float()
    levels[1] = levels[1] // 4 * 4  # sparse histogram
    x = (levels + 0.5) / 255  # floor(x · 255) is the level exactly
    out = equalize_images(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, kornia.enhance.equalize(x))
    for i in range(3):
        for c in range(3):
            ref = np.array(ImageOps.equalize(Image.fromarray(levels[i, c].numpy().astype(np.uint8))))
            assert torch.allclose(out[i, c] * 255, torch.from_numpy(ref).float(), atol=1e-3), (i, c)
    # each plane alone: no mixing across images or channels
    assert torch.allclose(equalize_images(x[1:2]), out[1:2])


# ---------------------------------------------------------------------------------------------- JPEG


def _photo_like(H=96, W=128, seed=9):
    """Smooth colour field with luminance texture (chroma smooth, as in photographs)."""
    g = _gen(seed)
    base = F.interpolate(torch.rand(1, 3, 6, 8, generator=g), size=(H, W), mode="bicubic").clamp(0, 1)
    lum = F.interpolate(torch.rand(1, 1, H // 4, W // 4, generator=g), size=(H, W), mode="bilinear")
    return (0.8 * base + 0.2 * lum).clamp(0, 1)


def test_jpeg_quality_and_range():
    x = _photo_like()
    q100, q90, q20 = (jpeg_roundtrip(x, [q]) for q in (100, 90, 20))
    assert _psnr(q100, x) > 35
    assert _psnr(q20, x) < _psnr(q90, x) - 3
    for out in (q100, q90, q20):
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert 0 <= out.min() and out.max() <= 1
        assert torch.equal((out * 255).round() / 255, out)  # decoded 8-bit values


@pytest.mark.parametrize("quality", [20, 55, 95])
def test_jpeg_matches_pil(quality):
    """CPU path = libjpeg with its default 4:2:0, like PIL's encoder: same bytes' worth of loss. Both
    decoders are libjpeg(-turbo) with the same defaults; allow a small PSNR gap for IDCT differences."""
    x = _photo_like(seed=10)
    u8 = (x[0] * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=quality)
    pil = torch.from_numpy(np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    pil = pil.permute(2, 0, 1).float()[None] / 255
    ours = jpeg_roundtrip(x, [quality])
    assert torch.equal(ours, pil) or _psnr(ours, pil) > 40


def test_jpeg_equals_torchvision_libjpeg_round_trip():
    """The op = quantise, libjpeg encode at each quality, decode, / 255 (the channels-last hand-over to
    libjpeg changes nothing), for float32 and float64 alike."""
    import torchvision.io as tvio

    x = torch.cat([_photo_like(64, 80, seed=s) for s in range(3)])
    q = [25, 60, 97]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.stack([tvio.decode_jpeg(tvio.encode_jpeg(u, quality=qi), mode=tvio.ImageReadMode.RGB)
                           for u, qi in zip((x * 255).round().to(torch.uint8), q)])
    out = jpeg_roundtrip(x, q)
    assert out.is_contiguous() and torch.equal(out, ref.float() / 255)
    assert torch.equal(jpeg_roundtrip(x.double(), q), ref.double() / 255)
    assert jpeg_roundtrip(x[:0], []).shape == (0, 3, 64, 80)
    # float16 takes the path CUDA images take (host → device copy, then the level table)
    xh = x.half()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_h = torch.stack([tvio.decode_jpeg(tvio.encode_jpeg(u, quality=qi), mode=tvio.ImageReadMode.RGB)
                             for u, qi in zip((xh * 255).round().clamp(0, 255).to(torch.uint8), q)])
    out_h = jpeg_roundtrip(xh, q)
    assert out_h.dtype == torch.float16 and out_h.is_contiguous()
    assert torch.equal(out_h, (ref_h.double() / 255).half())


def test_jpeg_level_table_is_the_exact_quotient():
    """The 8-bit → float table equals the CPU's correctly rounded v / 255 (CUDA's ``u8 / 255`` would be
    ``u8 · (1/255)``, one ulp off for about half of the levels; the table is the same on every device)."""
    v = torch.arange(256)
    assert torch.equal(_levels(torch.device("cpu"), torch.float32), v.float() / 255)
    assert torch.equal(_levels(torch.device("cpu"), torch.float64), v.double() / 255)
    # why a table: the reciprocal product does differ
    assert not torch.equal(v.float() * (torch.tensor(1.0) / torch.tensor(255.0)), v.float() / 255)


@pytest.mark.parametrize("codec", ["torch", "libjpeg"])
def test_random_jpeg_per_sample_quality_and_determinism(codec):
    x = _photo_like().expand(6, 3, 96, 128).contiguous()
    a = random_jpeg(x, (20, 100), _gen(1), codec=codec)
    assert torch.equal(a, random_jpeg(x, (20, 100), _gen(1), codec=codec))
    psnrs = {round(_psnr(a[i], x[i]), 3) for i in range(6)}
    assert len(psnrs) > 1  # different qualities per sample
    # the qualities are the generator's integers in the range, whichever codec
    q = torch.randint(20, 101, (6,), generator=_gen(1))
    ref = jpeg_simulated(x, q) if codec == "torch" else jpeg_roundtrip(x, q.tolist())
    assert torch.equal(a, ref)
    with pytest.raises(ValueError, match="codec"):
        random_jpeg(x, (20, 100), _gen(1), codec="nvjpeg")


def test_jpeg_bad_qualities_raise():
    x = _photo_like().expand(2, 3, 96, 128).contiguous()
    with pytest.raises(ValueError):
        jpeg_roundtrip(x, [50])
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        jpeg_roundtrip(x[:1], [0])
    with pytest.raises(ValueError, match=r"\(B,\)"):
        jpeg_simulated(x, torch.tensor([50]))
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        jpeg_simulated(x, torch.tensor([50, 101]))
    assert jpeg_simulated(x[:0], torch.zeros(0)).shape == (0, 3, 96, 128)


def test_jpeg_quant_tables_are_libjpegs():
    """Against the tables Pillow's libjpeg writes into a file at each quality (``Image.quantization``)."""
    for q in (1, 10, 49, 50, 75, 97, 100):
        buf = io.BytesIO()
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, format="JPEG", quality=q)
        written = Image.open(io.BytesIO(buf.getvalue())).quantization
        ours = jpeg_quant_tables(torch.tensor([q]))[0]
        assert ours[0].tolist() == list(written[0]) and ours[1].tolist() == list(written[1]), q


def _skimage_photo(name, size):
    skimage_data = pytest.importorskip("skimage.data")
    img = torch.from_numpy(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 255
    return (F.interpolate(img, size=size, mode="area") * 255).round() / 255


@pytest.mark.parametrize("quality", [5, 20, 50, 80, 95, 100])
@pytest.mark.parametrize("size", [(224, 224), (100, 150)])
def test_jpeg_simulated_is_close_to_libjpeg(quality, size):
    """The codec's lossy steps in tensor kernels against the real codec (libjpeg) at the same quality, on
    photographs (one size not a multiple of 16: edge replication): the same loss (PSNR within 0.15 dB)
    and under one level apart on average; kornia's differentiable model of JPEG, an independent
    reference, is within 1 dB too (it rounds softly: 0.6–2.4 levels from libjpeg)."""
    from kornia.enhance import jpeg_codec_differentiable

    for name in ("astronaut", "coffee"):
        x = _skimage_photo(name, size)
        lib = jpeg_roundtrip(x, [quality])
        sim = jpeg_simulated(x, torch.tensor([quality]))
        assert sim.shape == x.shape and sim.dtype == x.dtype and 0 <= sim.min() and sim.max() <= 1
        assert torch.equal((sim * 255).round() / 255, sim)  # 8-bit levels
        assert abs(_psnr(sim, x) - _psnr(lib, x)) < 0.15, name
        assert 255 * (sim - lib).abs().mean() < 1.0, name
        kor = jpeg_codec_differentiable(x, torch.tensor([float(quality)]))
        assert abs(_psnr(sim, x) - _psnr(kor, x)) < 1.0, name
        if quality < 100:
            assert _psnr(sim, x) < 42  # it does lose


def test_jpeg_simulated_ignores_autocast():
    """Its integer steps need float32 products: inside a bfloat16 autocast region the result is unchanged
    (run in 16 bits, the DCT would be off by several quantisation steps)."""
    x = torch.cat([_photo_like(seed=s) for s in range(2)])
    q = torch.tensor([30, 90])
    ref = jpeg_simulated(x, q)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(jpeg_simulated(x, q), ref)


def test_jpeg_simulated_per_sample_quality():
    """Each image is coded at its own quality: a batch equals the images coded one by one."""
    x = torch.cat([_photo_like(seed=s) for s in range(3)])
    q = torch.tensor([20, 60, 95])
    out = jpeg_simulated(x, q)
    for i in range(3):
        assert torch.allclose(out[i:i + 1], jpeg_simulated(x[i:i + 1], q[i:i + 1]), atol=1e-5)
    same = jpeg_simulated(x[:1].expand(3, -1, -1, -1).contiguous(), q)
    p = [_psnr(same[i], x[0]) for i in range(3)]
    assert p[0] < p[1] < p[2]


# ---------------------------------------------------------------------------------------------- blurs


def test_box_blur_per_sample_matches_kornia():
    x = _texture(3, 3, 24, 20, seed=11)
    sizes = torch.tensor([3, 9, 5])
    out = box_blur_per_sample(x, sizes)
    for i, k in enumerate(sizes.tolist()):
        ref = kornia.filters.box_blur(x[i:i + 1], (k, k), border_type="reflect")
        assert torch.allclose(out[i:i + 1], ref, atol=1e-6), k


def test_random_box_blur_draws_odd_sizes_in_range():
    x = torch.zeros(50, 3, 16, 16)
    x[:, :, 8, 8] = 1.0  # impulse: the blurred footprint is k × k with value 1 / k²
    out = random_box_blur(x, (3, 10), _gen(12))
    k = (out[:, 0, 8] > 0).sum(1)
    assert set(k.tolist()) <= {3, 5, 7, 9} and len(set(k.tolist())) >= 3
    assert torch.allclose(out[:, 0, 8, 8], 1.0 / k.float() ** 2)


def test_motion_blur_matches_kornia():
    x = _texture(3, 3, 24, 24, seed=13)
    angle = torch.tensor([10.0, -75.0, 160.0])
    direction = torch.tensor([0.5, -1.0, 0.0])
    out = motion_blur_per_sample(x, 7, angle, direction)
    ref = kornia.filters.motion_blur(x, 7, angle, direction, border_type="constant", mode="nearest")
    assert torch.allclose(out, ref, atol=1e-6)
    y = random_motion_blur(x, (3, 15), _gen(0))
    assert torch.equal(y, random_motion_blur(x, (3, 15), _gen(0))) and not torch.equal(y, x)


# ---------------------------------------------------------------------------------------------- downscale


def test_downscale_matches_per_sample_indexing():
    """One flat gather = rows then columns of each sample's own index maps (a plain loop here)."""
    x = _texture(5, 3, 30, 41, seed=28)
    out = random_downscale(x, (0.3, 0.9), _gen(29))
    g = _gen(29)
    s = (0.3 + 0.6 * torch.rand(5, generator=g, dtype=torch.float64)).float()
    for i in range(5):
        iy = torch.floor(torch.floor(torch.arange(30) * s[i]) / s[i]).long().clamp(0, 29)
        ix = torch.floor(torch.floor(torch.arange(41) * s[i]) / s[i]).long().clamp(0, 40)
        assert torch.equal(out[i], x[i][:, iy][:, :, ix]), i


# ---------------------------------------------------------------------------------------------- rain, erasing


@pytest.mark.parametrize("width,shape", [(3, [(0, 0), (1, 0), (2, 1), (3, 2)]),
                                         (-3, [(0, 2), (1, 2), (2, 1), (3, 0)])])
def test_rain_drop_shape(width, shape):
    """One drop, height 4, width ±3: 4 steps, rows trunc(i/3·3), columns trunc(i/3·(±2))."""
    x = torch.zeros(5, 3, 20, 20)
    out = random_rain(x, (1, 1), _gen(14), drop_height=(4, 4), drop_width=(width, width))
    for i in range(5):
        ys, xs = torch.nonzero(out[i, 0], as_tuple=True)
        pts = sorted(zip((ys - ys.min()).tolist(), (xs - xs.min()).tolist()))
        assert pts == shape
        assert torch.allclose(out[i][:, ys, xs], torch.tensor(200 / 255))
        assert torch.equal(out[i, 0], out[i, 2])


def test_rain_counts_and_determinism():
    x = torch.zeros(4, 3, 64, 64)
    out = random_rain(x, (10, 20), _gen(15))
    wet = (out[:, 0] > 0).flatten(1).sum(1)
    assert (wet >= 5).all() and (wet <= 20 * 20).all()  # ≤ drops × longest line
    assert torch.equal(out, random_rain(x, (10, 20), _gen(15)))
    assert not torch.equal(out, random_rain(x, (10, 20), _gen(16)))


def test_erasing_box():
    x = torch.ones(40, 3, 50, 60)
    out = random_erasing(x, (0.02, 0.2), (0.3, 3.3), _gen(17))
    for i in range(40):
        ys, xs = torch.nonzero(out[i, 0] == 0, as_tuple=True)
        h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert ys.numel() == h * w  # a filled rectangle
        assert torch.equal(out[i, 1] == 0, out[i, 0] == 0)
        assert 0.02 * 3000 - 60 <= h * w <= 0.2 * 3000 + 60  # rounding of h and w
        assert 0.3 / 1.5 <= h / w <= 3.3 * 1.5


# ---------------------------------------------------------------------------------------------- colour


def test_snow_matches_kornia_hls():
    x = _texture(4, 3, 32, 32, seed=18)
    co = torch.tensor([0.1, 0.3, 0.5, 0.9])
    br = torch.tensor([2.5, 2.5, 1.5, 3.0])
    hls = kornia.color.rgb_to_hls(x)
    light = torch.where(hls[:, 1] < co[:, None, None], (hls[:, 1] * br[:, None, None]).clamp(0, 1), hls[:, 1])
    ref = kornia.color.hls_to_rgb(torch.stack([hls[:, 0], light, hls[:, 2]], 1)).clamp(0, 1)
    out = snow(x, co, br)
    assert (out - ref).abs().max() < 1e-4
    assert (out[1:] - x[1:]).abs().mean() > 0.02
    y = random_snow(x, (0.1, 0.3), (2.5, 2.5), _gen(0))
    assert torch.equal(y, random_snow(x, (0.1, 0.3), (2.5, 2.5), _gen(0)))


def test_snow_leaves_pixels_above_the_threshold_exactly():
    """Snow brightens only pixels darker than the coefficient; all others (and so an image without dark
    pixels) come back bit for bit."""
    x = _texture(3, 3, 16, 16, seed=30)
    light = (x.amax(1) + x.amin(1)) / 2
    low = float(light[0].min())  # image 0: threshold below its darkest pixel
    out = snow(x, torch.tensor([low, 0.4, 0.6]), torch.full((3,), 2.5))
    assert torch.equal(out[0], x[0])
    for i, c in ((1, 0.4), (2, 0.6)):
        dark = light[i] < c
        assert dark.any() and torch.equal(out[i][:, ~dark], x[i][:, ~dark])
        assert (out[i][:, dark] - x[i][:, dark]).abs().amax() > 0.05


def test_hue_saturation_value_matches_colorsys():
    x = _texture(2, 3, 4, 5, seed=19)
    hue, sat, val = 0.1, 0.3, 0.08
    out = random_hue_saturation_value(x, hue, sat, val, _gen(20))
    g = _gen(20)  # the same draws, in the op's order: hue shift (turns), saturation factor, value shift
    dh = -hue + 2 * hue * torch.rand(2, generator=g, dtype=torch.float64)
    fs = 1 - sat + 2 * sat * torch.rand(2, generator=g, dtype=torch.float64)
    dv = -val + 2 * val * torch.rand(2, generator=g, dtype=torch.float64)
    for i in range(2):
        for yy in range(4):
            for xx in range(5):
                h, s, v = colorsys.rgb_to_hsv(*x[i, :, yy, xx].tolist())
                rgb = colorsys.hsv_to_rgb((h + float(dh[i])) % 1.0, min(max(s * float(fs[i]), 0), 1),
                                          min(max(v + float(dv[i]), 0), 1))
                assert torch.allclose(out[i, :, yy, xx], torch.tensor(rgb, dtype=torch.float32), atol=1e-4)


@pytest.mark.parametrize("hue,sat,val", [(0.0, 1.0, 0.0), (0.45, 1.0, 0.0), (-0.3, 0.5, 0.1),
                                         (0.9, 1.6, -0.2)])
def test_hue_saturation_value_edge_pixels(hue, sat, val):
    """Greys (no chroma), black, white, primaries, ties for the largest channel, wrap-around shifts."""
    pix = torch.tensor([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0],
                        [0, 1, 1], [0.2, 0.8, 0.8], [0.8, 0.8, 0.2], [0.9, 0.1, 0.5], [0.3, 0.2, 0.25]])
    x = pix.T.reshape(1, 3, 3, 4)
    t = torch.tensor(float(hue)).view(1, 1, 1, 1)
    out = hue_saturation_value(x, t, t * 0 + sat, t * 0 + val)
    for j, (r, g, b) in enumerate(pix.tolist()):
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        ref = colorsys.hsv_to_rgb((h + hue) % 1.0, min(max(s * sat, 0), 1), min(max(v + val, 0), 1))
        ref = torch.tensor(ref, dtype=torch.float32)
        assert torch.allclose(out[0, :, j // 4, j % 4], ref, atol=1e-5), (r, g, b)


def test_brightness_contrast_is_affine():
    x = _texture(3, 3, 16, 16, seed=21) * 0.5 + 0.25
    assert torch.allclose(random_brightness_contrast(x, 0.0, 0.0, _gen(0)), x)
    y = random_brightness_contrast(x, 0.2, 0.0, _gen(1))  # contrast 0: a constant shift per image
    shift = (y - x).flatten(1)
    assert (shift.amax(1) - shift.amin(1)).abs().max() < 1e-6 and (shift[:, 0].abs() <= 0.2).all()
    z = random_brightness_contrast(x, 0.0, 0.2, _gen(2))  # brightness 0: a factor per image
    ratio = (z / x).flatten(1)
    assert (ratio.amax(1) - ratio.amin(1)).max() < 1e-5 and ((ratio[:, 0] - 1).abs() <= 0.2 + 1e-6).all()


def test_gamma_is_a_power_per_sample():
    x = _texture(4, 3, 8, 8, seed=22) * 0.9 + 0.05
    y = random_gamma(x, (0.8, 2.0), _gen(23))
    g = (torch.log(y) / torch.log(x)).flatten(1)
    assert (g.amax(1) - g.amin(1)).max() < 1e-4 and ((g[:, 0] >= 0.8 - 1e-5) & (g[:, 0] <= 2.0 + 1e-5)).all()
    assert len(set(g[:, 0].round(decimals=3).tolist())) == 4


def test_posterize_keeps_top_bits():
    x = _texture(2, 3, 8, 8, seed=24)
    y = random_posterize(x, (4.0, 4.0), _gen(0))
    expected = torch.div(torch.floor(x * 255), 16, rounding_mode="floor") * 16 / 255
    assert torch.allclose(y, expected, atol=1e-6)


def test_grayscale_weights():
    x = _texture(2, 3, 8, 8, seed=25)
    y = grayscale(x)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert y.shape == x.shape and all(torch.allclose(y[:, c], luma, atol=1e-6) for c in range(3))


# ---------------------------------------------------------------------------------------------- all ops


@pytest.mark.parametrize("op", OP_NAMES)
def test_op_uses_only_its_generator(op):
    """Forced op: same seed → same output, global RNG untouched, range kept, dtype float64 passes through."""
    x = _texture(3, 3, 40, 40, seed=26)
    aug = PhotometricAugment(PhotometricConfig.single(op))
    state = torch.get_rng_state()
    a = aug(x, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, aug(x, seed=11))
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    b = aug(x.double(), seed=11)
    assert b.dtype == torch.float64 and (b.float() - a).abs().max() < 1e-5


@pytest.mark.gpu
def test_gpu_ops_match_cpu():
    """CPU twins: the tests above. Every op runs on CUDA without host sync errors and agrees with its CPU
    result for the same seed (the parameters come from the same CPU generator); the libjpeg JPEG bit for
    bit."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    x = _texture(3, 3, 64, 64, seed=27)
    for op in OP_NAMES:
        aug = PhotometricAugment(PhotometricConfig.single(op))
        cpu, gpu = aug(x, seed=5), aug(x.cuda(), seed=5).cpu()
        if op != "occlusion":  # (the occluder's noise comes from the device generator)
            assert (cpu - gpu).abs().mean() < 2e-3, op
    exact = PhotometricAugment(PhotometricConfig.single("jpeg", jpeg_codec="libjpeg"))
    assert torch.equal(exact(x, seed=5), exact(x.cuda(), seed=5).cpu())


@pytest.mark.gpu
def test_gpu_jpeg_equals_cpu_codec_bit_for_bit():
    """CPU twin: test_jpeg_equals_torchvision_libjpeg_round_trip. CUDA images go through the same libjpeg
    round trip, also while earlier kernels are still queued on the stream (the crops are copied to the
    host only after they are written)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    x = torch.cat([_photo_like(seed=s) for s in range(4)])
    q = [20, 55, 70, 100]
    ref = jpeg_roundtrip(x, q)
    for dtype in (torch.float32, torch.float64):
        staged = x.to("cuda", dtype)
        torch.cuda._sleep(50_000_000)  # keep the stream busy, then write the input behind it
        out = jpeg_roundtrip(staged * 1, q)
        assert out.is_cuda and out.dtype == dtype and torch.equal(out.cpu().float(), ref)


@pytest.mark.gpu
def test_gpu_to_device_copies_are_safe_to_reuse():
    """to_device's non-blocking copy from a pageable tensor is staged before it returns, and a pinned
    source is copied blocking: changing the source right after the call does not change the copy, even
    with the stream busy."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    like = torch.zeros(1, device="cuda")
    for pinned in (False, True):
        src = torch.arange(1 << 20, dtype=torch.int64)
        if pinned:
            src = src.pin_memory()
        torch.cuda._sleep(50_000_000)
        out = to_device(src, like)
        src.zero_()
        assert torch.equal(out.cpu(), torch.arange(1 << 20)), pinned

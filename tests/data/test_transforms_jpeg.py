"""Batched image decoding (torchvision / nvJPEG) against PIL, and the bytes-only file dataset."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from hpskit.core import CorruptFileError, MissingFileError, ShapeError
from hpskit.data.transforms import EncodedImageFiles, collate_encoded, decode_images, is_jpeg, stack_images


def _encode(arr: np.ndarray, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def files():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    return [
        _encode(smooth, quality=90),
        _encode(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8), quality=50),  # odd size, 4:2:0
        _encode(rng.integers(0, 255, (24, 40), dtype=np.uint8)),  # greyscale JPEG
        _encode(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8), quality=95, subsampling=0),  # 4:4:4
        _encode(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), fmt="PNG"),
    ]


def _pil(data: bytes) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(io.BytesIO(data)).convert("RGB"))).permute(2, 0, 1)


def test_cpu_decode_equals_pil(files):
    out = decode_images(files, device="cpu")
    assert [is_jpeg(torch.frombuffer(bytearray(f), dtype=torch.uint8)) for f in files] == [True] * 4 + [False]
    for data, img in zip(files, out):
        assert img.dtype == torch.uint8 and img.shape[0] == 3
        assert torch.equal(img, _pil(data))


def test_tensor_inputs_and_errors(files):
    t = [torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in files[:2]]
    assert all(torch.equal(a, b) for a, b in zip(decode_images(t), decode_images(files[:2])))
    with pytest.raises(ShapeError, match="uint8"):
        decode_images([torch.zeros(10)])
    with pytest.raises(CorruptFileError):
        decode_images([b"\xff\xd8\xff" + b"\x00" * 50])
    with pytest.raises(CorruptFileError):
        decode_images([b"not an image at all"])


def test_stack(files):
    imgs = decode_images([files[0], files[0]])
    assert stack_images(imgs).shape == (2, 3, 48, 64)
    with pytest.raises(ShapeError, match="Group images by size"):
        stack_images(decode_images(files[:2]))


def test_file_dataset_reads_bytes_in_workers(files, tmp_path):
    paths = []
    for i, f in enumerate(files):
        p = tmp_path / f"img{i}.{'png' if i == 4 else 'jpg'}"
        p.write_bytes(f)
        paths.append(p)
    ds = EncodedImageFiles(paths)
    # A spawned worker inherits no locks from threads earlier tests left running (a forked one once hung
    # in torch.manual_seed on an inherited generator mutex); the timeout makes a stuck worker fail.
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_encoded, num_workers=1,
                                         multiprocessing_context="spawn", timeout=60)
    seen = []
    for idx, raw in loader:
        assert all(r.dtype == torch.uint8 and r.dim() == 1 for r in raw)
        for i, img in zip(idx.tolist(), decode_images(raw)):
            assert torch.equal(img, _pil(files[i]))
            seen.append(i)
    assert seen == list(range(5))
    with pytest.raises(MissingFileError):
        EncodedImageFiles([tmp_path / "missing.jpg"])


@pytest.mark.gpu
def test_gpu_decode_matches_cpu(files):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cpu = decode_images(files, device="cpu")
    gpu = decode_images(files, device="cuda")
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda" and a.shape == b.shape
        # nvJPEG's IDCT / upsampling may differ from libjpeg-turbo by a few levels
        assert (a.int() - b.cpu().int()).abs().float().mean() < 2.0

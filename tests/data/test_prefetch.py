from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import torch

from hpskit.data import BackgroundBatches
from hpskit.data.prefetch import record_stream


@dataclass
class B:
    x: torch.Tensor
    y: dict
    name: str


def make(k: int) -> B:
    g = torch.Generator().manual_seed(k)
    return B(x=torch.rand(3, generator=g), y={"z": torch.full((2,), float(k))}, name=f"b{k}")


def _same(a: B, b: B) -> bool:
    return a.name == b.name and a.x.equal(b.x) and a.y["z"].equal(b.y["z"])


@pytest.mark.parametrize("enabled", [True, False])
def test_same_batches_as_on_demand(enabled):
    src = BackgroundBatches(make, start=2, enabled=enabled)
    got = [src.next() for _ in range(4)]
    assert all(_same(g, make(k)) for g, k in zip(got, range(2, 6)))
    assert src.position == 6
    src.close()


def test_runs_ahead_in_another_thread():
    threads, ready = [], threading.Event()

    def slow(k):
        threads.append(threading.get_ident())
        if k == 1:
            ready.set()
        return torch.tensor([k])

    src = BackgroundBatches(slow)
    assert src.next().item() == 0
    assert ready.wait(5)  # batch 1 was started before anyone asked for it
    assert threading.get_ident() not in threads
    src.close()


def test_seek_and_wait():
    calls = []

    def rec(k):
        calls.append(k)
        return torch.tensor([k])

    src = BackgroundBatches(rec)
    src.next()
    src.wait()
    assert calls == [0, 1]  # 1 made ahead
    src.seek(10)
    assert src.next().item() == 10 and src.position == 11
    src.close()
    assert src.next().item() == 11  # after close: on demand in the caller's thread


def test_worker_errors_reach_the_caller():
    def bad(k):
        if k == 1:
            raise ValueError("broken batch 1")
        return torch.tensor([k])

    src = BackgroundBatches(bad)
    src.next()
    with pytest.raises(ValueError, match="broken batch 1"):
        src.next()
    src.close()


def test_record_stream_finds_nested_tensors():
    b = make(0)
    # on the CPU record_stream is skipped (only CUDA tensors are recorded): nothing raises
    record_stream(b, None)
    from hpskit.data.prefetch import _tensors

    seen = list(_tensors(b))
    assert len(seen) == 2 and seen[0] is b.x and seen[1] is b.y["z"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_side_stream_batches_are_complete_and_kept():
    def big(k):  # long enough to still run when handed over, if the stream wait were missing
        x = torch.full((4096, 4096), float(k), device="cuda")
        for _ in range(20):
            x = x @ torch.eye(4096, device="cuda")
        return x

    src = BackgroundBatches(big, device="cuda")
    for k in range(3):
        x = src.next()
        assert torch.all(x == k).item()
        del x
    src.close()


def _jpeg_batches(n_batches: int, batch: int) -> list:
    import warnings

    import torchvision.io as tvio

    from hpskit.data.transforms import PackedBytes

    g = torch.Generator().manual_seed(5)
    out = []
    for _ in range(n_batches):
        files = []
        for _ in range(batch):
            base = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 8, generator=g), size=(96, 128),
                                                   mode="bilinear")[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchvision's codecs announce their deprecation
                files.append(tvio.encode_jpeg((base * 255).round().to(torch.uint8), quality=85))
        out.append(PackedBytes(files))
    return out


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_image_path_in_background_equals_inline(device):
    """The GPU input path of benchmarks/bench_data.py with its decode in the background thread (on a side
    CUDA stream) gives the batches the inline path gives: decode_batch → [0, 1] → seeded augmentation."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from hpskit.data.transforms import PhotometricAugment, decode_batch

    raws = _jpeg_batches(4, 6)
    aug = PhotometricAugment("authors")

    def load(k: int) -> torch.Tensor:
        return decode_batch(raws[k], device).float() / 255

    inline = [aug(load(k), seed=k).cpu() for k in range(4)]
    src = BackgroundBatches(load, device=device)
    background = [aug(src.next(), seed=k).cpu() for k in range(4)]
    src.close()
    assert all(a.shape == (6, 3, 96, 128) for a in inline)
    assert all(torch.equal(a, b) for a, b in zip(inline, background))

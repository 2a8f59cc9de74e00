"""Shared fixtures of the data tests: dataset roots written once per session, and a marker finder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpskit.data import IMAGENET_MEAN, IMAGENET_STD
from hpskit.testing.datasets import ToySMPL, write_3dpw, write_emdb


@pytest.fixture(scope="session")
def pw3d_root(tmp_path_factory):
    return write_3dpw(tmp_path_factory.mktemp("pw3d"))


@pytest.fixture(scope="session")
def emdb_root(tmp_path_factory):
    return write_emdb(tmp_path_factory.mktemp("emdb"))


@pytest.fixture(scope="session")
def toy_bodies():
    """Gendered SMPL stand-ins: the same toy body the fixtures pose (ToySMPL() is deterministic)."""
    b = ToySMPL()
    return {"male": b, "female": b, "neutral": b}


def unnormalize(img: torch.Tensor) -> np.ndarray:
    """(3, R, R) ImageNet-normalised → (R, R, 3) in [0, 1]."""
    m = torch.tensor(IMAGENET_MEAN)[:, None, None]
    s = torch.tensor(IMAGENET_STD)[:, None, None]
    return (img * s + m).permute(1, 2, 0).numpy()


def marker_centroids(img: torch.Tensor, min_pixels: int = 2) -> np.ndarray:
    """Centroids (u, v) of the green marker blobs in a crop, found independently of the loader."""
    from scipy import ndimage

    rgb = unnormalize(img)
    green = (rgb[..., 1] > 0.6) & (rgb[..., 0] < 0.45) & (rgb[..., 2] < 0.45)
    lab, n = ndimage.label(green)
    out = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(lab == k)
        if len(xs) >= min_pixels:
            out.append((xs.mean(), ys.mean()))
    return np.array(out).reshape(-1, 2)


def to_crop(uv: np.ndarray, center, scale, res: int = 224) -> np.ndarray:
    """Image px → crop px, written out here (pixel centres at integers).

    u' = res/(200 s)·(u − cx) + (res − 1)/2
    """
    k = res / (200.0 * float(scale))
    return k * (np.asarray(uv, float) - np.asarray(center, float)) + (res - 1) / 2


@pytest.fixture(scope="session")
def helpers():
    """The helper functions above, for test modules (conftest modules are not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(unnormalize=unnormalize, marker_centroids=marker_centroids, to_crop=to_crop)


@pytest.fixture(scope="session")
def smplx_body():
    """The licence-free stand-in SMPL-X body (what the BEDLAM/AGORA fixtures are posed with)."""
    from hpskit.body import SMPLXBody

    return SMPLXBody("standin")


@pytest.fixture(scope="session")
def bedlam_root(tmp_path_factory, smplx_body):
    from hpskit.testing.datasets import write_bedlam

    return write_bedlam(tmp_path_factory.mktemp("bedlam"), body_model=smplx_body)


@pytest.fixture(scope="session")
def bedlam(bedlam_root, smplx_body):
    """The BEDLAM fixture loaded once with the stand-in body (depth, parts, vertices)."""
    from hpskit.data import BEDLAM

    return BEDLAM(bedlam_root, body_model=smplx_body)


@pytest.fixture(scope="session")
def bedlam_samples(bedlam):
    """Every sample of the BEDLAM fixture, loaded once through a DataLoader (no batching)."""
    return list(torch.utils.data.DataLoader(bedlam, batch_size=None, num_workers=0))

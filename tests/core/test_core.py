import pytest
import torch

from hpskit.core import (
    MissingFileError,
    Registry,
    ShapeError,
    UnknownNameError,
    check_finite,
    check_shape,
    find_file,
)


def test_check_shape_binds_names():
    dims = check_shape(torch.zeros(2, 3, 5, 7), ("B", 3, "H", "W"), "x")
    assert dims == {"B": 2, "H": 5, "W": 7}


def test_check_shape_message():
    with pytest.raises(ShapeError, match=r"images.*\(B, 3, 224, 224\).*got \(3, 224, 224\)") as e:
        check_shape(torch.zeros(3, 224, 224), ("B", 3, 224, 224), "images", "DPoSE.forward")
    assert e.value.actual_shape == (3, 224, 224)
    assert isinstance(e.value, ValueError)


def test_check_shape_consistent_names():
    dims = check_shape(torch.zeros(2, 4), ("B", 4), "a")
    with pytest.raises(ShapeError, match="`B` is 2 elsewhere"):
        check_shape(torch.zeros(3, 4), ("B", 4), "b", dims=dims)


def test_check_shape_ellipsis():
    check_shape(torch.zeros(2, 5, 3, 3), ("...", 3, 3), "R")
    with pytest.raises(ShapeError):
        check_shape(torch.zeros(2, 5, 3, 4), ("...", 3, 3), "R")


def test_check_finite():
    with pytest.raises(ShapeError, match="1 NaN"):
        check_finite(torch.tensor([1.0, float("nan")]), "x")


def test_registry_suggests():
    reg = Registry("encoder")
    reg.register("hrnet_w48")(lambda: 48)
    assert reg.create("hrnet_w48") == 48
    with pytest.raises(UnknownNameError, match="Closest: hrnet_w48"):
        reg.get("hrnet_w46")


def test_find_file_order(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "smplx").mkdir(parents=True)
    (b / "smplx").mkdir(parents=True)
    (a / "smplx" / "X.npz").write_bytes(b"1")
    (b / "smplx" / "X.npz").write_bytes(b"2")
    monkeypatch.setenv("HPSKIT_BODY_MODELS", str(b))
    assert find_file("smplx/X.npz", what="f", explicit=a) == a / "smplx" / "X.npz"
    assert find_file("smplx/X.npz", what="f") == b / "smplx" / "X.npz"
    with pytest.raises(MissingFileError, match=r"'smplx/Y.npz' not found.*HPSKIT_BODY_MODELS.*get it here"):
        find_file("smplx/Y.npz", what="SMPL-X model file", where_to_get="get it here")

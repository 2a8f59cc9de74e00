"""load_coco_hrnet_checkpoint on synthetic files in the official pose-HRNet layout (formats.md Appendix A)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from hpskit.core import CorruptFileError, MissingFileError, WeightsMismatchError
from hpskit.encoders import HRNetEncoder, load_coco_hrnet_checkpoint

STAGE4_MULTISCALE = tuple(f"stage4.2.fuse_layers.{i}." for i in (1, 2, 3))


def _official_layout(trunk, num_joints=17, seed=0):
    """A state_dict laid out like the official PoseHighResolutionNet file, with random values.

    The official last stage4 module keeps only fuse_layers.0; the 17-joint final_layer head comes last.
    """
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in trunk.state_dict().items():
        if k.startswith(STAGE4_MULTISCALE):
            continue
        if v.is_floating_point():
            v = torch.rand(v.shape, generator=g) + (0.5 if k.endswith("running_var") else -0.5)
        else:
            v = torch.randint(0, 100, v.shape, generator=g, dtype=v.dtype)
        sd[k] = v
    c0 = trunk.feature_info.channels()[0]
    sd["final_layer.weight"] = torch.randn(num_joints, c0, 1, 1, generator=g)
    sd["final_layer.bias"] = torch.randn(num_joints, generator=g)
    return sd


@pytest.fixture(scope="module")
def w18():
    return HRNetEncoder("hrnet_w18")


@pytest.fixture(scope="module")
def w18_sd(w18):
    return _official_layout(w18.trunk)


@pytest.fixture(scope="module")
def w18_file(tmp_path_factory, w18_sd):
    sd = w18_sd
    path = tmp_path_factory.mktemp("coco") / "pose_hrnet_w18.pth"
    torch.save(sd, path)
    return path, sd


def test_w48_official_layout(w48_meta):
    # the official W48 file = the trunk minus the multi-scale fuse of the last stage4 module + final_layer
    keys = [k for k in w48_meta.trunk.state_dict() if not k.startswith(STAGE4_MULTISCALE)]
    keys += ["final_layer.weight", "final_layer.bias"]
    groups = Counter(k.split(".")[0] for k in keys)
    # formats.md Appendix A: tensor groups of the official W48 file, 1754 in all
    assert groups == {"conv1": 1, "bn1": 5, "conv2": 1, "bn2": 5, "layer1": 78, "transition1": 12,
                      "stage2": 108, "transition2": 6, "stage3": 744, "transition3": 6, "stage4": 786,
                      "final_layer": 2}
    assert len(keys) == 1754


def test_official_file_loads(w18_file):
    enc = HRNetEncoder("hrnet_w18")
    path, sd = w18_file
    before = {k: v.clone() for k, v in enc.state_dict().items()}

    report = load_coco_hrnet_checkpoint(enc, path)

    assert len(report.loaded) == len(sd) - 2
    assert report.dropped == ["final_layer.weight", "final_layer.bias"]
    left_trunk = [k for k in report.left_at_init if k.startswith("trunk.")]
    assert len(left_trunk) == 78 and all(k[len("trunk."):].startswith(STAGE4_MULTISCALE) for k in left_trunk)
    assert sorted(k for k in report.left_at_init if not k.startswith("trunk.")) == sorted(
        k for k in enc.state_dict() if k.startswith("upsample_stage_"))
    after = enc.state_dict()
    for k in report.loaded:
        torch.testing.assert_close(after["trunk." + k], sd[k], rtol=0, atol=0)
    for k in report.left_at_init:
        torch.testing.assert_close(after[k], before[k], rtol=0, atol=0)


def test_module_prefix_is_stripped(tmp_path, w18, w18_sd):
    sd = {"module." + k: v for k, v in w18_sd.items()}
    torch.save(sd, tmp_path / "ckpt.pth")
    report = load_coco_hrnet_checkpoint(w18, tmp_path / "ckpt.pth")
    assert len(report.loaded) == len(sd) - 2


def test_bare_trunk_accepted(tmp_path, w18):
    torch.save(_official_layout(w18.trunk, seed=1), tmp_path / "ckpt.pth")
    report = load_coco_hrnet_checkpoint(w18.trunk, tmp_path / "ckpt.pth")
    assert all(not k.startswith("trunk.") for k in report.left_at_init)
    assert len(report.left_at_init) == 78


def test_missing_file_says_where_to_get_it(tmp_path, w18):
    msg = r"pose_hrnet_w48_256x192\.pth.*not found.*deep-high-resolution-net"
    with pytest.raises(MissingFileError, match=msg):
        load_coco_hrnet_checkpoint(w18, tmp_path / "pose_hrnet_w48_256x192.pth")


def test_key_outside_known_groups(tmp_path, w18, w18_sd):
    sd = dict(w18_sd)
    sd["head.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "ckpt.pth")
    with pytest.raises(WeightsMismatchError, match=r"unexpected \(1 key.*\n    head\.\* \(1\): head\.weight"):
        load_coco_hrnet_checkpoint(w18, tmp_path / "ckpt.pth")


def test_shape_mismatch_loads_nothing(tmp_path, w18, w18_sd):
    sd = dict(w18_sd)
    sd["conv1.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(sd, tmp_path / "ckpt.pth")
    before = w18.trunk.conv2.weight.clone()
    msg = r"conv1\.weight: file \(32, 3, 3, 3\) vs model \(64, 3, 3, 3\)"
    with pytest.raises(WeightsMismatchError, match=msg):
        load_coco_hrnet_checkpoint(w18, tmp_path / "ckpt.pth")
    torch.testing.assert_close(w18.trunk.conv2.weight, before, rtol=0, atol=0)


def test_wrong_width_is_a_mismatch(w18_file, w48_meta):
    # checked before anything is copied, so a meta-device W48 is enough
    with pytest.raises(WeightsMismatchError, match=r"shape mismatch.*conv1\.weight|transition1"):
        load_coco_hrnet_checkpoint(w48_meta, w18_file[0])


def test_unknown_trunk_key(tmp_path, w18, w18_sd):
    sd = dict(w18_sd)
    sd["stage4.3.branches.0.0.conv1.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "ckpt.pth")
    msg = r"unexpected \(1 key.*\n    stage4\.\* \(1\): stage4\.3\."
    with pytest.raises(WeightsMismatchError, match=msg):
        load_coco_hrnet_checkpoint(w18, tmp_path / "ckpt.pth")


def test_not_a_state_dict(tmp_path, w18):
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "epoch": 3}, tmp_path / "wrapped.pth")
    with pytest.raises(CorruptFileError, match="plain state_dict"):
        load_coco_hrnet_checkpoint(w18, tmp_path / "wrapped.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="could not read"):
        load_coco_hrnet_checkpoint(w18, tmp_path / "junk.pth")

"""``hpskit convert`` on a small checkpoint in the authors' Lightning layout (HRNet-W18 variant).

The checkpoint is built from a saved hpskit model by renaming its keys back to the authors' names (the
inverse of the converter's prefix table, written out here), plus keys the converter must drop.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from hpskit.cli import main
from hpskit.models import DPoSE

# hpskit prefix → the authors' prefix (authors-code.md (j)); HRNet trunk modules sit under model.backbone.
TO_AUTHORS = [
    ("encoder.upsample_stage_", "model.backbone.upsample_stage_"),
    ("encoder.trunk.", "model.backbone."),
    ("depth_decoder.", "model.depth_decoder."),
    ("part_decoder.", "model.segmentation_decoder."),
    ("attention.mixer.", "model.attention.conv1x1_pose."),
    ("regressor.", "model.head."),
]


@pytest.fixture(scope="module")
def ckpt(weights_dir, tmp_path_factory):
    ours = load_file(weights_dir / "model.safetensors")
    sd = {}
    for key, value in ours.items():
        src, dst = next((s, d) for s, d in TO_AUTHORS if key.startswith(s))
        sd[dst + key[len(src):]] = value
    sd["J_regressor"] = torch.rand(17, 6890)  # dropped: the trainer's H36M regressor
    sd["model.attention.conv1x1_shape_cam.weight"] = torch.rand(270, 270, 1)  # dropped: dead module
    sd["model.attention.conv1x1_shape_cam.bias"] = torch.rand(270)
    path = tmp_path_factory.mktemp("ckpt") / "epoch=0-step=1.ckpt"
    torch.save({"epoch": 0, "global_step": 1, "pytorch-lightning_version": "2.0.0", "state_dict": sd,
                "hyper_parameters": {}}, path)
    return path, ours


def test_convert_writes_a_loadable_folder(ckpt, tmp_path, caplog):
    path, ours = ckpt
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    got = load_file(out / "model.safetensors")
    assert set(got) == set(ours)
    assert all(torch.equal(got[k], ours[k]) for k in ours)
    model = DPoSE.from_pretrained(out, body_model="none")
    assert model.config.encoder == "hrnet_w18"
    assert any("verified" in r.getMessage() for r in caplog.records)


def test_convert_refuses_to_overwrite(ckpt, tmp_path, capsys):
    path, _ = ckpt
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out), "--no-verify"]) == 0
    assert main(["convert", str(path), str(out)]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["convert", str(path), str(out), "--overwrite", "--no-verify"]) == 0


def test_convert_missing_checkpoint(tmp_path, capsys):
    absent = tmp_path / "absent.ckpt"
    assert main(["convert", str(absent), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "checkpoint CKPT not found" in err and str(absent) in err


def test_failed_overwrite_keeps_the_good_weights(ckpt, tmp_path, capsys):
    """Issue 16, item 1: a conversion failing verification with --overwrite leaves the old folder intact."""
    path, _ = ckpt
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    sd = torch.load(path, weights_only=True)
    key = next(k for k in sd["state_dict"] if k.startswith("model.depth_decoder.") and k.endswith(".weight"))
    sd["state_dict"][key] = torch.zeros(3, 3)  # a wrong-shape tensor: converts, then fails the strict load
    bad = tmp_path / "bad.ckpt"
    torch.save(sd, bad)
    capsys.readouterr()
    assert main(["convert", str(bad), str(out), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "shape mismatch" in err and key.removeprefix("model.") in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the good weights survive, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt", "out"]  # no staging folder left
    DPoSE.from_pretrained(out, body_model="none")


def test_failed_conversion_leaves_no_orphan_files(ckpt, tmp_path, capsys):
    path, _ = ckpt
    sd = torch.load(path, weights_only=True)
    key = next(k for k in sd["state_dict"] if k.startswith("model.depth_decoder.") and k.endswith(".weight"))
    sd["state_dict"][key] = torch.zeros(3, 3)
    bad = tmp_path / "bad.ckpt"
    torch.save(sd, bad)
    assert main(["convert", str(bad), str(tmp_path / "new")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]  # no README.md, no folder


def test_refusal_names_the_command_line_flag(ckpt, tmp_path, capsys):
    path, _ = ckpt
    assert main(["convert", str(path), str(tmp_path), "--no-verify"]) == 0
    assert main(["convert", str(path), str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and "overwrite=True" not in err


@pytest.mark.parametrize("content", ["truncated", "text"])
def test_unreadable_checkpoint_is_one_line(ckpt, tmp_path, capsys, content):
    """Issue 16, item 8: a truncated .ckpt or a text file named .ckpt → one line naming the file."""
    path, _ = ckpt
    bad = tmp_path / "broken.ckpt"
    if content == "truncated":
        bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        bad.write_text("epoch=3 step=151000\nthis is not a checkpoint\n")
    assert main(["convert", str(bad), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and "is not a readable PyTorch checkpoint" in err
    assert not (tmp_path / "out").exists()

"""Issue 16, item 4: save_pretrained is atomic; config and weights of two saves are never loaded together."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import safetensors.torch
import torch
from _hub_tiny import Tiny, TinyConfig, trained_tiny

from hpskit.core import CorruptFileError, MissingFileError, WriteFailedError
from hpskit.hub import CONFIG_NAME, WEIGHTS_NAME, read_weights_metadata


def _full_disk_after(nbytes: int):
    """A safetensors ``save_file`` that writes ``nbytes`` of the file, then fails like a full disk."""

    def save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"\0" * nbytes)
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    return save_file


def test_full_disk_while_saving_another_config_keeps_the_old_model(tmp_path, monkeypatch):
    old = trained_tiny()
    old.save_pretrained(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    torch.manual_seed(1)
    new = Tiny(TinyConfig(width=4))  # another config: its weights do not fit the old config and vice versa
    monkeypatch.setattr(safetensors.torch, "save_file", _full_disk_after(100))
    msg = r"no space left on .* while writing model\.safetensors"
    with pytest.raises(WriteFailedError, match=msg) as info:
        new.save_pretrained(tmp_path / "m")
    assert f"{tmp_path / 'm'} is untouched" in str(info.value)
    monkeypatch.undo()
    # the folder is byte for byte the old model, and nothing else is left next to it or in it
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    loaded = Tiny.from_pretrained(tmp_path / "m")
    assert loaded.config.width == 6
    assert torch.equal(loaded.fc.weight, old.fc.weight)


def test_save_over_an_existing_folder_replaces_both_files(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    torch.manual_seed(1)
    new = Tiny(TinyConfig(width=4))
    new.save_pretrained(tmp_path)
    loaded = Tiny.from_pretrained(tmp_path)
    assert loaded.config.width == 4 and torch.equal(loaded.fc.weight, new.fc.weight)
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")]


def test_config_of_another_save_is_refused(tmp_path):
    """A save cut short between its two renames leaves the new weights beside the old config: refused."""
    trained_tiny().save_pretrained(tmp_path / "a")
    trained_tiny().save_pretrained(tmp_path / "b")  # same config and shapes: only the id tells them apart
    shutil.copy(tmp_path / "a" / CONFIG_NAME, tmp_path / "b" / CONFIG_NAME)
    with pytest.raises(CorruptFileError, match="come from different saves"):
        Tiny.from_pretrained(tmp_path / "b")
    # weights with an id next to a config without one (written before ids existed) are refused too
    data = json.loads((tmp_path / "b" / CONFIG_NAME).read_text())
    del data["weights_id"]
    (tmp_path / "b" / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(CorruptFileError, match="come from different saves"):
        Tiny.from_pretrained(tmp_path / "b")


def test_weights_id_recorded_in_both_files(tmp_path):
    trained_tiny().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert len(cfg["weights_id"]) == 32
    assert read_weights_metadata(tmp_path / WEIGHTS_NAME)["weights_id"] == cfg["weights_id"]
    Tiny.from_pretrained(tmp_path)  # and it loads


def test_mistyped_local_path_is_not_sent_to_the_hub(tmp_path, monkeypatch):
    """Weak spot: weights/dpose_w18 next to an existing weights/ folder is a typo, said before the Hub."""
    import huggingface_hub

    trained_tiny().save_pretrained(tmp_path / "weights" / "dpose_hrnet_w18")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda *a, **k: pytest.fail("the Hub was asked for a mistyped local path"))
    with pytest.raises(MissingFileError) as info:
        Tiny.from_pretrained("weights/dpose_w18")
    msg = str(info.value)
    assert msg.startswith("no local folder weights/dpose_w18 (weights/ exists; did you mean "
                          "weights/dpose_hrnet_w18?)")
    assert "Not trying the Hub id" in msg

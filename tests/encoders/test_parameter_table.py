"""docs/parameters.md: hpskit's D-PoSE block parameter counts beside the reference's (authors-code.md (i)).

Run ``python tests/encoders/test_parameter_table.py`` to print the table; the test checks that the counts
equal the reference block by block (less the two dead modules hpskit does not build), that the reference
numbers agree with the reference state-dict fixture, and that docs/parameters.md holds exactly this table.
"""

from __future__ import annotations

from pathlib import Path

import torch
from _reference import (
    HPSKIT_BLOCK_PARAMS,
    HPSKIT_TOTAL,
    REFERENCE_BLOCK_PARAMS,
    REFERENCE_DEAD_PARAMS,
    REFERENCE_TOTAL,
    official_checkpoint_keys,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "parameters.md"

# (hpskit block, reference module, params, dead): the numbers live in tests/_reference.py
REFERENCE = [
    ("encoder (`HRNetEncoder('hrnet_w48')`)", "backbone", REFERENCE_BLOCK_PARAMS["backbone"],
     REFERENCE_DEAD_PARAMS["backbone.final_layer"]),
    ("depth decoder (`UNetLiteDecoder(out_channels=1)`)", "depth_decoder",
     REFERENCE_BLOCK_PARAMS["depth_decoder"], 0),
    ("part decoder (`UNetLiteDecoder(out_channels=23)`)", "segmentation_decoder",
     REFERENCE_BLOCK_PARAMS["segmentation_decoder"], 0),
    ("part attention (`PartAttention(720)`)", "attention", REFERENCE_BLOCK_PARAMS["attention"],
     REFERENCE_DEAD_PARAMS["attention.conv1x1_shape_cam"]),
    ("regressor (`DPoSERegressor()`)", "head", REFERENCE_BLOCK_PARAMS["head"], 0),
]
DEAD_NOTES = {
    "backbone": "`final_layer` (conv 48→24, never called) not built",
    "attention": "`conv1x1_shape_cam` (never reached) not built",
}


def measure() -> dict[str, int]:
    """Parameter counts of hpskit's blocks in the D-PoSE configuration (built on the meta device)."""
    from hpskit.attention import PartAttention
    from hpskit.decoders import UNetLiteDecoder
    from hpskit.encoders import create_encoder
    from hpskit.heads import DPoSERegressor

    with torch.device("meta"):
        enc = create_encoder("hrnet_w48")
        blocks = {
            "backbone": enc,
            "depth_decoder": UNetLiteDecoder(enc.feature_info.channels(), 1, "sigmoid"),
            "segmentation_decoder": UNetLiteDecoder(enc.feature_info.channels(), 23, None),
            "attention": PartAttention(enc.fused_channels),
            "head": DPoSERegressor(att_channels=enc.fused_channels),
        }
        return {k: sum(p.numel() for p in m.parameters()) for k, m in blocks.items()}


def render_table(counts: dict[str, int]) -> str:
    """The markdown table of docs/parameters.md."""
    lines = ["| block | hpskit | reference module | reference | difference |", "|---|---:|---|---:|---|"]
    for name, ref_mod, ref, dead in REFERENCE:
        diff = f"−{dead:,} dead: {DEAD_NOTES[ref_mod]}" if dead else "equal"
        lines.append(f"| {name} | {counts[ref_mod]:,} | `{ref_mod}` | {ref:,} | {diff} |")
    total = sum(counts.values())
    lines.append(f"| **total** | **{total:,}** | `HMR` | **{REFERENCE_TOTAL:,}** | "
                 f"−{REFERENCE_TOTAL - total:,} (= 1,176 + 519,120) |")
    return "\n".join(lines)


def test_counts_equal_reference_block_by_block():
    counts = measure()
    for _, ref_mod, ref, dead in REFERENCE:
        assert counts[ref_mod] == ref - dead, ref_mod
    assert sum(counts.values()) == HPSKIT_TOTAL == REFERENCE_TOTAL - sum(REFERENCE_DEAD_PARAMS.values())


def test_reference_numbers_agree_with_fixture():
    sums: dict[str, int] = {}
    dead = {"backbone": 0, "attention": 0}
    for t in official_checkpoint_keys():
        if t.kind != "param" or not t.key.startswith("model."):
            continue
        mod = t.key.split(".")[1]
        sums[mod] = sums.get(mod, 0) + t.numel
        if t.key.startswith(("model.backbone.final_layer.", "model.attention.conv1x1_shape_cam.")):
            dead[mod] += t.numel
    for _, ref_mod, ref, d in REFERENCE:
        assert sums[ref_mod] == ref, ref_mod
        assert dead.get(ref_mod, 0) == d
    assert sums == REFERENCE_BLOCK_PARAMS and sum(sums.values()) == REFERENCE_TOTAL


def test_hpskit_table_is_the_reference_less_its_dead_modules():
    """The constants of tests/_reference.py agree with one another."""
    assert HPSKIT_TOTAL == sum(HPSKIT_BLOCK_PARAMS.values())
    assert HPSKIT_TOTAL == REFERENCE_TOTAL - sum(REFERENCE_DEAD_PARAMS.values())
    assert HPSKIT_BLOCK_PARAMS["encoder"] == (REFERENCE_BLOCK_PARAMS["backbone"]
                                              - REFERENCE_DEAD_PARAMS["backbone.final_layer"])
    assert HPSKIT_BLOCK_PARAMS["attention"] == (REFERENCE_BLOCK_PARAMS["attention"]
                                                - REFERENCE_DEAD_PARAMS["attention.conv1x1_shape_cam"])


def test_doc_holds_the_table():
    assert render_table(measure()) in DOC.read_text(), (
        "docs/parameters.md is out of date; regenerate with `python tests/encoders/test_parameter_table.py`"
    )


if __name__ == "__main__":
    print(render_table(measure()))

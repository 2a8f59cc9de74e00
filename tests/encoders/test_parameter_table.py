"""docs/parameters.md: hpskit's D-PoSE block parameter counts beside the reference's (authors-code.md (i)).

Run ``python tests/encoders/test_parameter_table.py`` to print the table; the test checks that the counts
equal the reference block by block (less the two dead modules hpskit does not build), that the reference
numbers agree with the reference state-dict fixture, and that docs/parameters.md holds exactly this table.
"""

from __future__ import annotations

from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "parameters.md"
TSV = ROOT / "tests" / "fixtures" / "reference_state_dict.tsv"

# docs/authors-code.md (i), measured on the authors' model: (hpskit block, reference module, params, dead)
REFERENCE = [
    ("encoder (`HRNetEncoder('hrnet_w48')`)", "backbone", 70_057_368, 1_176),
    ("depth decoder (`UNetLiteDecoder(out_channels=1)`)", "depth_decoder", 4_182_049, 0),
    ("part decoder (`UNetLiteDecoder(out_channels=23)`)", "segmentation_decoder", 4_183_127, 0),
    ("part attention (`PartAttention(720)`)", "attention", 1_038_240, 519_120),
    ("regressor (`DPoSERegressor()`)", "head", 1_638_610, 0),
]
DEAD_NOTES = {
    "backbone": "`final_layer` (conv 48→24, never called) not built",
    "attention": "`conv1x1_shape_cam` (never reached) not built",
}
REFERENCE_TOTAL = 81_099_394
HPSKIT_TOTAL = 80_579_098


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
    assert sum(counts.values()) == HPSKIT_TOTAL == REFERENCE_TOTAL - 1_176 - 519_120


def test_reference_numbers_agree_with_fixture():
    sums: dict[str, int] = {}
    dead = {"backbone": 0, "attention": 0}
    for line in TSV.read_text().splitlines()[1:]:
        key, _, _, numel, kind = line.split("\t")
        if kind != "param" or not key.startswith("model."):
            continue
        mod = key.split(".")[1]
        sums[mod] = sums.get(mod, 0) + int(numel)
        if key.startswith(("model.backbone.final_layer.", "model.attention.conv1x1_shape_cam.")):
            dead[mod] += int(numel)
    for _, ref_mod, ref, d in REFERENCE:
        assert sums[ref_mod] == ref, ref_mod
        assert dead.get(ref_mod, 0) == d
    assert sum(sums.values()) == REFERENCE_TOTAL


def test_doc_holds_the_table():
    assert render_table(measure()) in DOC.read_text(), (
        "docs/parameters.md is out of date; regenerate with `python tests/encoders/test_parameter_table.py`"
    )


if __name__ == "__main__":
    print(render_table(measure()))

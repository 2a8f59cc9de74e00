"""Convert MediaPipe's BlazePose ``.tflite`` models into hpskit's small op-graph format (safetensors).

Offline tool, run once by a maintainer; the converted files are committed under
``hpskit/detect/weights/`` so that the default person detector works offline with only torch and
safetensors (no TFLite runtime, no ``mediapipe``, which pins ``numpy<2``, no run-time download).

Source: the Apache-2.0 models of the ``mediapipe==0.10.21`` wheel (PyPI):

    pip download --no-deps -d /tmp/mp mediapipe==0.10.21
    unzip -o /tmp/mp/mediapipe-0.10.21-*.whl 'mediapipe/modules/pose_*/*.tflite' -d /tmp/mp/x
    pip install tflite            # FlatBuffers schema reader, needed by this tool only
    python tools/convert_mediapipe_pose.py /tmp/mp/x/mediapipe/modules            # the shipped 9-bit files
    python tools/convert_mediapipe_pose.py /tmp/mp/x/mediapipe/modules --bits 16 --out DIR  # float16

The wheel has only ``pose_landmark_full`` (no lite or heavy landmark model).

What it does (why written here: ``tflite2onnx`` 0.4.1 fails on these models' ``DENSIFY`` op):
constant-folds ``DEQUANTIZE`` (float16 weights) and ``DENSIFY`` (sparse CSR weights), keeps only
the ops that feed the chosen outputs, moves conv weights from TFLite's OHWI to torch's OIHW layout,
and writes one safetensors file per model: the float16 constants as tensors ``c<index>`` (pruned
ones, more than 30 % zeros, as ``c<index>.nz`` nonzero values + ``.mask`` packed bits + ``.shape``,
which halves the detector's file), and the op list as JSON in the file's metadata (key ``graph``),
read by :mod:`hpskit.detect._graph`. With ``--bits N`` < 16 (default 9, to fit the repository's 25 MB
weight budget), conv weights with at least ``MIN_QUANTISED`` nonzeros are stored as N-bit integers with
one step per output channel (``c<index>.q`` packed, ``.bits``, ``.absmax`` float16, ``.shape``, and
``.mask`` if pruned; format ``hpskit-opgraph-2``). The landmark model's output conv keeps only the 105
channels that hpskit reads. ``docs/api/detect.md`` has the measured effect of the 9 bits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hpskit.detect._graph import pack_ints  # noqa: E402  (the file format's one home)

#: The landmark model's ``Identity`` holds 39 points × (x, y, z, visibility, presence); hpskit reads
#: x, y and visibility of the first 35 (33 landmarks + the 2 that give the next region), so the
#: conv that makes it keeps only those 105 of its 195 output channels.
LANDMARK_CHANNELS = [5 * k + j for k in range(35) for j in (0, 1, 3)]
MODELS = {
    # name -> (tflite path below the modules folder, outputs to keep, {output: its channels to keep})
    "blazepose_detector": ("pose_detection/pose_detection.tflite", ["Identity", "Identity_1"], {}),
    "blazepose_landmark_full": ("pose_landmark/pose_landmark_full.tflite", ["Identity", "Identity_1"],
                                {"Identity": LANDMARK_CHANNELS}),
}
ACT = {0: None, 1: "relu", 3: "relu6"}
PAD = {0: "same", 1: "valid"}
#: Conv weights with at least this many nonzeros are quantised (``--bits`` < 16); smaller ones, among
#: them the most sensitive (first layers, depthwise 3 × 3), stay float16 at little cost in bytes.
MIN_QUANTISED = 10_000
NP_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 3: np.uint8, 9: np.int8}


def _densify(t, buf: bytes, model) -> np.ndarray:
    """Expand a TFLite sparse tensor (per-dimension DENSE / SPARSE_CSR metadata) into a dense array."""
    import tflite

    shape = tuple(int(s) for s in t.ShapeAsNumpy())
    sp = t.Sparsity()
    if sp.BlockMapLength():
        raise NotImplementedError("block-sparse tensors are not handled")
    order = [int(i) for i in sp.TraversalOrderAsNumpy()]
    values = np.frombuffer(buf, dtype=NP_TYPES[t.Type()])
    dims = []
    for d in range(sp.DimMetadataLength()):
        dm = sp.DimMetadata(d)
        if dm.Format() == tflite.DimensionType.DENSE:
            dims.append(("dense", dm.DenseSize()))
        else:
            def vec(kind, table):
                cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}[kind]
                v = cls()
                v.Init(table.Bytes, table.Pos)
                return v.ValuesAsNumpy()

            seg = vec(dm.ArraySegmentsType(), dm.ArraySegments())
            idx = vec(dm.ArrayIndicesType(), dm.ArrayIndices())
            dims.append(("csr", seg, idx))
    out = np.zeros(shape, dtype=values.dtype)
    coord = [0] * len(order)

    def walk(level: int, prev: int) -> None:
        if level == len(dims):
            out[tuple(coord)] = values[prev]
            return
        dim = dims[level]
        if dim[0] == "dense":
            for i in range(dim[1]):
                coord[order[level]] = i
                walk(level + 1, prev * dim[1] + i)
        else:
            seg, idx = dim[1], dim[2]
            for i in range(int(seg[prev]), int(seg[prev + 1])):
                coord[order[level]] = int(idx[i])
                walk(level + 1, i)

    walk(0, 0)
    return out


def quantise(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric linear quantisation with one step per output channel (axis 0).

    Args:
        w: (O, ...) weights. bits: Bits per integer.

    Returns:
        q (O, ...) int32 and absmax (O,) float16, the channel's largest |w|: ``w ≈ q · step`` with
        ``step = absmax / (2**(bits-1) - 1)`` (as :mod:`hpskit.detect._graph` reads it back).
    """
    w = w.astype(np.float32)
    lim = 2 ** (bits - 1) - 1
    absmax = np.abs(w.reshape(len(w), -1)).max(axis=1).astype(np.float16)
    step = absmax.astype(np.float32) / lim
    step = np.where(step > 0, step, 1.0).reshape(-1, *[1] * (w.ndim - 1))
    q = np.clip(np.round(w / step), -lim, lim).astype(np.int32)
    return q, absmax


def convert(path: Path, keep_outputs: list[str], bits: int = 16,
            keep_channels: dict[str, list[int]] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Return (constants, graph) for one .tflite file; ``bits`` < 16 quantises the large conv weights;
    ``keep_channels`` keeps only these channels of an output made by CONV_2D → RESHAPE to (-1, C)."""
    import tflite

    raw = path.read_bytes()
    model = tflite.Model.GetRootAsModel(raw, 0)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    g = model.Subgraphs(0)

    def tensor_name(i: int) -> str:
        return g.Tensors(i).Name().decode()

    def raw_const(i: int):
        t = g.Tensors(i)
        b = model.Buffers(t.Buffer())
        if b.DataLength() == 0:
            return None
        data = b.DataAsNumpy().tobytes()
        if t.Sparsity() is not None:
            return _densify(t, data, model)
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return np.frombuffer(data, dtype=NP_TYPES[t.Type()]).reshape(shape).copy()

    consts: dict[int, np.ndarray] = {}
    ops = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        oc = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        ins = [int(i) for i in op.InputsAsNumpy()]
        outs = [int(i) for i in op.OutputsAsNumpy()]
        for i in ins:
            if i >= 0 and i not in consts:
                c = raw_const(i)
                if c is not None:
                    consts[i] = c
        if name in ("DEQUANTIZE", "DENSIFY"):  # constant folding
            consts[outs[0]] = consts[ins[0]].astype(np.float32)
            continue
        o = op.BuiltinOptions()
        opts: dict = {}
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            c = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
            c.Init(o.Bytes, o.Pos)
            opts = {"padding": PAD[c.Padding()], "stride": [c.StrideH(), c.StrideW()],
                    "dilation": [c.DilationHFactor(), c.DilationWFactor()],
                    "act": ACT[c.FusedActivationFunction()]}
            if name == "DEPTHWISE_CONV_2D" and c.DepthMultiplier() not in (0, 1):
                raise NotImplementedError("depth multiplier != 1")
        elif name == "ADD":
            c = tflite.AddOptions()
            c.Init(o.Bytes, o.Pos)
            opts = {"act": ACT[c.FusedActivationFunction()]}
        elif name == "MAX_POOL_2D":
            c = tflite.Pool2DOptions()
            c.Init(o.Bytes, o.Pos)
            opts = {"padding": PAD[c.Padding()], "stride": [c.StrideH(), c.StrideW()],
                    "kernel": [c.FilterHeight(), c.FilterWidth()], "act": ACT[c.FusedActivationFunction()]}
        elif name == "RESIZE_BILINEAR":
            c = tflite.ResizeBilinearOptions()
            c.Init(o.Bytes, o.Pos)
            if c.AlignCorners() or not c.HalfPixelCenters():
                raise NotImplementedError("only half-pixel-centre bilinear resizing is handled")
            opts = {"size": [int(v) for v in consts[ins[1]]]}
            ins = ins[:1]
        elif name == "DEPTH_TO_SPACE":
            c = tflite.DepthToSpaceOptions()
            c.Init(o.Bytes, o.Pos)
            opts = {"block": c.BlockSize()}
        elif name == "CONCATENATION":
            c = tflite.ConcatenationOptions()
            c.Init(o.Bytes, o.Pos)
            opts = {"axis": c.Axis(), "act": ACT[c.FusedActivationFunction()]}
        elif name == "PAD":
            opts = {"pads": consts[ins[1]].astype(int).tolist()}
            ins = ins[:1]
        elif name == "RESHAPE":
            opts = {"shape": [int(v) for v in consts[ins[1]]]}
            ins = ins[:1]
        elif name == "LOGISTIC":
            pass
        else:
            raise NotImplementedError(f"TFLite op {name} is not handled")
        ops.append({"op": name, "inputs": ins, "outputs": outs, "options": opts})

    # keep only the ops that feed the chosen outputs
    out_ids = [int(i) for i in g.OutputsAsNumpy() if tensor_name(int(i)) in keep_outputs]
    need = set(out_ids)
    kept = []
    for op in reversed(ops):
        if any(o in need for o in op["outputs"]):
            kept.append(op)
            need.update(i for i in op["inputs"] if i >= 0)
    kept.reverse()

    # drop unread output channels: slice the conv's weights and bias, and the reshape's width
    for out_name, channels in (keep_channels or {}).items():
        out_id = next(i for i in out_ids if tensor_name(i) == out_name)
        reshape = next(op for op in kept if op["outputs"] == [out_id])
        conv = next(op for op in kept if op["outputs"] == reshape["inputs"])
        if reshape["op"] != "RESHAPE" or conv["op"] != "CONV_2D" or len(conv["inputs"]) != 3:
            raise NotImplementedError(f"cannot slice the channels of {out_name}")
        for i in conv["inputs"][1:]:
            consts[i] = consts[i][channels]
        reshape["options"]["shape"] = [-1, len(channels)]

    # torch layouts: conv OHWI -> OIHW; depthwise 1HWC -> C1HW
    tensors: dict[str, np.ndarray] = {}
    used = {i for op in kept for i in op["inputs"] if i in consts}
    for op in kept:
        if op["op"] == "CONV_2D":
            w = op["inputs"][1]
            consts[w] = np.ascontiguousarray(consts[w].transpose(0, 3, 1, 2))
        elif op["op"] == "DEPTHWISE_CONV_2D":
            w = op["inputs"][1]
            consts[w] = np.ascontiguousarray(consts[w].transpose(3, 0, 1, 2))
    for i in sorted(used):  # float16 where lossless (the source weights are float16), else float32
        a = consts[i].astype(np.float32)
        a = a.astype(np.float16) if np.array_equal(a.astype(np.float16), a) else a
        pruned = a.size >= 1024 and np.mean(a == 0) > 0.3
        if pruned:  # pruned weights: nonzeros + a bit mask
            tensors[f"c{i}.mask"] = np.packbits(a != 0)
            tensors[f"c{i}.shape"] = np.array(a.shape, dtype=np.int64)
        if bits < 16 and a.ndim == 4 and np.count_nonzero(a) >= MIN_QUANTISED:
            q, absmax = quantise(a, bits)
            tensors[f"c{i}.q"] = pack_ints(q[a != 0] if pruned else q, bits)
            tensors[f"c{i}.bits"] = np.array([bits], dtype=np.uint8)
            tensors[f"c{i}.absmax"] = absmax
            tensors[f"c{i}.shape"] = np.array(a.shape, dtype=np.int64)
        elif pruned:
            tensors[f"c{i}.nz"] = a[a != 0]
        else:
            tensors[f"c{i}"] = a
    inp = int(g.Inputs(0))
    graph = {
        "input": inp,
        "input_shape_nhwc": [int(s) for s in g.Tensors(inp).ShapeAsNumpy()],
        "outputs": {tensor_name(i): i for i in out_ids},
        "ops": [{**op, "inputs": [i for i in op["inputs"] if i >= 0]} for op in kept],
        "source": f"mediapipe==0.10.21 {path.parent.name}/{path.name}",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "weight_bits": bits,
        "output_channels": keep_channels or {},
    }
    return tensors, graph


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", type=Path, help="the wheel's mediapipe/modules folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "hpskit/detect/weights")
    ap.add_argument("--bits", type=int, default=9, choices=range(8, 17), metavar="{8..16}",
                    help="bits per weight of the large conv weights (default 9: the files shipped in hpskit; "
                         "16: the original float16 values, 2.2 MB + 6.0 MB)")
    args = ap.parse_args()
    from safetensors.numpy import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    for name, (rel, keep, channels) in MODELS.items():
        tensors, graph = convert(args.modules / rel, keep, args.bits, channels)
        dst = args.out / f"{name}.safetensors"
        tmp = dst.with_suffix(".tmp")
        fmt = "hpskit-opgraph-2" if any(k.endswith(".q") for k in tensors) else "hpskit-opgraph-1"
        save_file(tensors, str(tmp), metadata={"graph": json.dumps(graph), "format": fmt})
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
        print(f"{dst}: {len(graph['ops'])} ops, {sum(t.size for t in tensors.values())} weights, "
              f"{dst.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

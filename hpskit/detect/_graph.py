"""A tiny executor, in torch, for the op graphs that ``tools/convert_mediapipe_pose.py`` writes.

Why hand-written: the MediaPipe person models are ``.tflite`` files; running them directly needs a
TFLite runtime (``mediapipe`` itself pins ``numpy<2``; ``ai-edge-litert`` adds a 21 MB binary with no
Windows wheels) and the ONNX converter on PyPI (``tflite2onnx``) cannot read their sparse weights.
The graphs use only ten plain ops (conv, depthwise conv, add, pad, max-pool, bilinear resize,
depth-to-space, reshape, concat, sigmoid), so executing them with ``torch.nn.functional`` costs ~150
lines, adds no dependency and runs wherever torch runs. Agreement with the TFLite runtime was
checked when converting (max abs difference ~1e-4 on the raw outputs; see the test's reference values).

Layout: 4-D activations are indexed NCHW (torch's), stored channels-last (faster convolutions on
CPU); TFLite's NHWC semantics are honoured where they matter (``PAD`` order, ``RESHAPE`` and
``CONCATENATION`` of 4-D tensors, ``DEPTH_TO_SPACE`` channel order).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

from ..core.errors import CorruptFileError, MissingFileError

__all__ = ["OpGraph", "pack_ints", "unpack_ints"]

#: Format 1: float16/float32 constants, pruned ones as nonzeros + bit mask. Format 2 adds constants
#: quantised to ``bits``-bit integers with one step per output channel (see :func:`_decode_constant`).
_FORMATS = ("hpskit-opgraph-1", "hpskit-opgraph-2")


def pack_ints(q: np.ndarray, bits: int) -> np.ndarray:
    """Pack signed integers of ``bits`` bits (2–16) tightly, most significant bit first.

    Args:
        q: (N,) integers in ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``.
        bits: Bits per integer.

    Returns:
        (ceil(N · bits / 8),) uint8: each integer stored as ``q + 2**(bits-1)`` (offset binary).
    """
    q = np.asarray(q).reshape(-1).astype(np.int64)
    lim = 2 ** (bits - 1) - 1
    if not 2 <= bits <= 16 or (q.size and (q.min() < -lim or q.max() > lim)):
        raise ValueError(f"cannot pack into {bits} bits: values in [{q.min()}, {q.max()}]")
    u = (q + 2 ** (bits - 1)).astype(">u2")
    planes = np.unpackbits(u.view(np.uint8).reshape(-1, 2), axis=1)[:, 16 - bits:]
    return np.packbits(planes.reshape(-1))


def unpack_ints(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_ints`: (ceil(count · bits / 8),) uint8 → (count,) int32.

    Eight integers of ``bits`` bits fill exactly ``bits`` bytes, so integer ``j`` of every group of
    eight starts at the same bit offset and lies within the 3 bytes from byte ``j · bits // 8``: one
    strided read and shift per ``j`` (~6× faster than expanding every bit with ``np.unpackbits``;
    loading the shipped detector took 0.21 s that way, the float16 files 0.04 s).
    """
    if not 2 <= bits <= 16:
        raise CorruptFileError(f"cannot unpack integers of {bits} bits (2–16)")
    if packed.size * 8 < count * bits:
        raise CorruptFileError(f"{packed.size} bytes cannot hold {count} integers of {bits} bits")
    groups = -(-count // 8)
    buf = np.zeros(groups * bits + 2, np.uint32)  # two spare bytes: the last 3-byte reads stay inside
    buf[:min(packed.size, groups * bits)] = packed[:groups * bits]
    out = np.empty((groups, 8), np.uint32)
    mask = np.uint32((1 << bits) - 1)
    for j in range(8):
        byte, offset = divmod(j * bits, 8)
        b0, b1, b2 = (buf[byte + i::bits][:groups] for i in range(3))
        word = (b0 << 16) | (b1 << 8) | b2
        out[:, j] = (word >> np.uint32(24 - bits - offset)) & mask
    return out.reshape(-1)[:count].astype(np.int32) - 2 ** (bits - 1)


def _decode_constant(arrays: dict[str, np.ndarray], base: str, path: Path) -> np.ndarray:
    """Rebuild constant ``base`` stored in parts: ``.shape`` (int64) plus either ``.nz`` (the nonzero
    values) or ``.q`` (:func:`pack_ints`), ``.bits`` and ``.absmax`` (float16, per output channel):
    ``value = q · absmax[channel] / (2**(bits-1) - 1)``. The values are all elements or, with
    ``.mask`` (packed bits, 1 = nonzero), the masked ones in C order."""
    try:
        shape = tuple(int(s) for s in arrays[base + ".shape"])
        n = int(np.prod(shape))
        if base + ".mask" in arrays:
            mask = np.unpackbits(arrays[base + ".mask"])[:n].astype(bool)
        else:
            mask = np.ones(n, bool)
        count = int(mask.sum())
        if base + ".nz" in arrays:
            values = arrays[base + ".nz"]
            dtype = values.dtype
        else:
            bits = int(arrays[base + ".bits"][0])
            values = unpack_ints(arrays[base + ".q"], bits, count)
            scale = arrays[base + ".absmax"].astype(np.float32) / (2 ** (bits - 1) - 1)
            dtype = np.float32
    except KeyError as e:
        raise CorruptFileError(f"{path}: constant {base} is incomplete (no {e.args[0]})") from None
    if values.size != count:
        raise CorruptFileError(f"{path}: {base} mask and values disagree")
    dense = np.zeros(n, dtype=values.dtype)
    dense[mask] = values
    dense = dense.reshape(shape)
    if base + ".nz" not in arrays:
        if scale.shape != shape[:1]:
            raise CorruptFileError(f"{path}: {base} has {scale.size} scales for {shape[0]} channels")
        dense = dense.reshape(shape[0], -1).astype(np.float32) * scale[:, None]
    return dense.reshape(shape).astype(dtype)


def _act(x: torch.Tensor, act: str | None) -> torch.Tensor:
    if act is None:
        return x
    if act == "relu":
        return F.relu(x)
    if act == "relu6":
        return F.relu6(x)
    raise CorruptFileError(f"unknown fused activation {act!r}")


def _same_pad(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
              dilation=(1, 1)) -> torch.Tensor:
    """TensorFlow 'SAME' padding (the extra pixel, if any, goes bottom/right)."""
    pads = []
    for size, k, s, d in zip(x.shape[-2:], kernel, stride, dilation):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (t, b), (left, r) = pads
    return F.pad(x, (left, r, t, b)) if (t or b or left or r) else x


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


class OpGraph(torch.nn.Module):
    """Run a converted TFLite graph.

    Args:
        path: A ``.safetensors`` file written by ``tools/convert_mediapipe_pose.py``.

    Shape:
        input: (B, 3, H, W) float, already normalised as the model expects (``input_shape_nhwc``
        gives H, W). Output: dict name -> tensor in TFLite's layout (4-D outputs as NHWC).
    """

    def __init__(self, path: str | Path):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"model file not found: {path}")
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            if meta.get("format") not in _FORMATS or "graph" not in meta:
                raise CorruptFileError(f"{path} is not an hpskit op graph (format {meta.get('format')!r})")
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        self.graph = json.loads(meta["graph"])
        self.source = self.graph.get("source", "")
        consts = {key: value for key, value in arrays.items() if "." not in key}
        for base in sorted({key.split(".", 1)[0] for key in arrays if "." in key}):
            consts[base] = _decode_constant(arrays, base, path)
        produced = {self.graph["input"]} | {i for op in self.graph["ops"] for i in op["outputs"]}
        missing = sorted({f"c{i}" for op in self.graph["ops"] for i in op["inputs"]
                          if i not in produced and f"c{i}" not in consts})
        if missing:
            raise CorruptFileError(f"{path}: missing constants {missing[:5]}")
        for key, value in consts.items():
            t = torch.from_numpy(value.astype(np.float32))
            if t.dim() == 4:  # conv weights: channels-last runs these depthwise nets ~1.7× faster on CPU
                t = t.contiguous(memory_format=torch.channels_last)
            self.register_buffer(key, t, persistent=False)

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the model's input."""
        _, h, w, _ = self.graph["input_shape_nhwc"]
        return int(h), int(w)

    def _get(self, env: dict[int, torch.Tensor], i: int) -> torch.Tensor:
        if i in env:
            return env[i]
        return getattr(self, f"c{i}")

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        env: dict[int, torch.Tensor] = {self.graph["input"]: x.contiguous(memory_format=torch.channels_last)}
        for op in self.graph["ops"]:
            name, o = op["op"], op["options"]
            args = [self._get(env, i) for i in op["inputs"]]
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                inp, w = args[0], args[1]
                bias = args[2] if len(args) > 2 else None
                k, s, d = tuple(w.shape[-2:]), tuple(o["stride"]), tuple(o["dilation"])
                if o["padding"] == "same":
                    inp = _same_pad(inp, k, s, d)
                groups = w.shape[0] if name == "DEPTHWISE_CONV_2D" else 1
                y = _act(F.conv2d(inp, w, bias, stride=s, dilation=d, groups=groups), o["act"])
            elif name == "ADD":
                y = _act(args[0] + args[1], o["act"])
            elif name == "PAD":
                p = o["pads"]  # NHWC [[n0, n1], [t, b], [l, r], [c0, c1]]
                if p[0] != [0, 0]:
                    raise CorruptFileError("PAD over the batch axis is not supported")
                y = F.pad(args[0], (p[2][0], p[2][1], p[1][0], p[1][1], p[3][0], p[3][1]))
            elif name == "MAX_POOL_2D":
                inp = args[0]
                k, s = tuple(o["kernel"]), tuple(o["stride"])
                if o["padding"] == "same":
                    inp = _same_pad(inp, k, s)  # zero pad is safe after ReLU; MediaPipe pools after ReLU
                y = _act(F.max_pool2d(inp, k, s), o["act"])
            elif name == "RESIZE_BILINEAR":
                y = F.interpolate(args[0], size=tuple(o["size"]), mode="bilinear", align_corners=False)
            elif name == "DEPTH_TO_SPACE":
                b = o["block"]
                n, c, h, w = args[0].shape
                y = args[0].reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
                y = y.reshape(n, c // (b * b), h * b, w * b)
            elif name == "RESHAPE":
                shape = [args[0].shape[0], *o["shape"][1:]]  # the batch axis stays the batch axis
                y = _nhwc(args[0]).reshape(shape)
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif name == "CONCATENATION":
                axis = o["axis"]
                if args[0].dim() == 4:
                    axis = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}[axis]
                y = _act(torch.cat(args, dim=axis), o["act"])
            elif name == "LOGISTIC":
                y = torch.sigmoid(args[0])
            else:
                raise CorruptFileError(f"op {name} is not supported")
            env[op["outputs"][0]] = y
        return {k: _nhwc(env[i]) for k, i in self.graph["outputs"].items()}

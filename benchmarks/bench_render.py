"""Benchmark hpskit.render: depth + part-label maps for a batch of body-sized meshes.

One self-contained command (CUDA if available, else CPU with a smaller default config):

    python benchmarks/bench_render.py --out bench_render.json

Measures ``Renderer(faces, (S, S), vertex_labels)(verts_cam, K)`` (one rasterization giving the depth
map, the mask and the part-label map) on a batch of differently posed/rotated bodies that fill the
crop, with warmup, CUDA synchronisation and the median of repeats. The mesh is the stand-in body
(through smplx) when ``hpskit.body`` provides it, else the procedural 13.2K-vertex / 26.4K-face blob
figure (``--mesh`` picks). On CUDA it also re-renders two images on the CPU and records how well the
two devices agree. Prints one JSON line and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time

import torch
from torch import Tensor

from hpskit.render import Renderer, rasterize
from hpskit.testing.meshes import figure_mesh


def _rot(axis: int, angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    R = torch.zeros(angle.shape[0], 3, 3)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    R[:, axis, axis] = 1.0
    R[:, i, i], R[:, j, j] = c, c
    R[:, i, j], R[:, j, i] = (-s, s) if axis != 1 else (s, -s)
    return R


def load_mesh(kind: str, batch: int, gen: torch.Generator):
    """Rest-frame (y up) vertices (B, V, 3), faces (F, 3), vertex labels (V,) and a description."""
    if kind in ("auto", "standin"):
        try:
            import roma

            from hpskit.body import SMPLXBody

            body = SMPLXBody("standin")
            pose = roma.rotvec_to_rotmat(0.3 * torch.randn(batch, 21, 3, generator=gen))
            betas = torch.randn(batch, 11, generator=gen)
            with torch.no_grad():
                root = torch.eye(3).expand(batch, 1, 3, 3)
                verts = body(global_orient=root, body_pose=pose, betas=betas).vertices
            try:
                from hpskit.body import standin_vertex_parts

                labels = standin_vertex_parts()
            except ImportError:
                from hpskit.body import vertex_parts_from_weights

                labels = vertex_parts_from_weights(torch.as_tensor(body.layer.lbs_weights))
            return verts.float(), body.faces.long(), labels.long(), "standin"
        except Exception as err:  # noqa: BLE001 - any failure falls back to the procedural mesh
            if kind == "standin":
                raise
            print(f"stand-in body unavailable ({type(err).__name__}: {err}); using the blob figure",
                  file=sys.stderr)
    v, f, lab = figure_mesh()
    return v.expand(batch, -1, -1).clone(), f, lab, "figure"


def place_in_crop(verts: Tensor, size: int, focal: float, gen: torch.Generator) -> Tensor:
    """Rotate each body randomly about its vertical axis (and a little about x) and place it so that it
    fills ~85 % of the crop height; returns camera-frame vertices (OpenCV axes)."""
    B = verts.shape[0]
    yaw = 2 * math.pi * torch.rand(B, generator=gen)
    pitch = 0.3 * (torch.rand(B, generator=gen) - 0.5)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # body y up / z front -> camera y down / z forward
    R = flip @ _rot(0, pitch) @ _rot(1, yaw)
    cam = verts @ R.transpose(1, 2)
    cam = cam - (cam.amax(1, keepdim=True) + cam.amin(1, keepdim=True)) / 2  # bounding-box centre
    height = (cam[..., 1].amax(1) - cam[..., 1].amin(1)).clamp(min=1e-3)
    z = focal * height / (0.85 * size)
    shift = 0.05 * (torch.rand(B, 2, generator=gen) - 0.5) * height[:, None]  # metres, small jitter
    return cam + torch.cat((shift, z[:, None]), -1)[:, None]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--batch", type=int, default=None, help="default 64 on CUDA, 8 on CPU")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=None, help="default 30 on CUDA, 3 on CPU")
    parser.add_argument("--warmup", type=int, default=None, help="default 5 on CUDA, 1 on CPU")
    parser.add_argument("--mesh", default="auto", choices=["auto", "standin", "figure"])
    parser.add_argument("--focal", type=float, default=5000.0, help="crop focal length in pixels")
    parser.add_argument("--max-candidates", type=int, default=1 << 22)
    parser.add_argument("--out", default=None, help="write the JSON result here too")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table to stderr")
    args = parser.parse_args(argv)

    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    on_cuda = device.type == "cuda"
    batch = args.batch or (64 if on_cuda else 8)
    repeats = args.repeats or (30 if on_cuda else 3)
    warmup = args.warmup if args.warmup is not None else (5 if on_cuda else 1)
    gen = torch.Generator().manual_seed(0)

    verts, faces, labels, mesh_kind = load_mesh(args.mesh, batch, gen)
    verts_cam = place_in_crop(verts, args.size, args.focal, gen)
    c = args.size / 2
    K = torch.tensor([[args.focal, 0.0, c], [0.0, args.focal, c], [0.0, 0.0, 1.0]])
    renderer = Renderer(
        faces, (args.size, args.size), vertex_labels=labels, max_candidates=args.max_candidates
    )
    renderer.to(device)
    v_dev, K_dev = verts_cam.to(device), K.to(device)

    def sync():
        if on_cuda:
            torch.cuda.synchronize(device)

    with torch.no_grad():
        for _ in range(warmup):
            out = renderer(v_dev, K_dev)
        sync()
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            out = renderer(v_dev, K_dev)
            sync()
            times.append(time.perf_counter() - t0)
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
            with profile(activities=acts) as prof:
                renderer(v_dev, K_dev)
                sync()
            key = "self_cuda_time_total" if on_cuda else "self_cpu_time_total"
            print(prof.key_averages().table(sort_by=key, row_limit=20), file=sys.stderr)
    med = statistics.median(times)
    result = {
        "benchmark": "render_depth_part_labels",
        "device": torch.cuda.get_device_name(device) if on_cuda else f"cpu ({platform.processor() or 'cpu'}, "
        f"{torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "mesh": mesh_kind,
        "num_vertices": int(verts.shape[1]),
        "num_faces": int(faces.shape[0]),
        "batch": batch,
        "image_size": args.size,
        "repeats": repeats,
        "median_ms_per_batch": round(med * 1e3, 3),
        "min_ms_per_batch": round(min(times) * 1e3, 3),
        "images_per_s": round(batch / med, 1),
        "foreground_fraction": round(float(out.mask.float().mean()), 4),
        "num_part_labels_seen": int(out.part_labels.unique().numel()),
    }
    if on_cuda:
        result["peak_mem_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        n = min(2, batch)
        cpu = rasterize(verts_cam[:n], faces, K, (args.size, args.size))
        gpu = out.fragments
        result["cpu_gpu_mask_agreement"] = float((gpu.mask[:n].cpu() == cpu.mask).float().mean())
        result["cpu_gpu_face_agreement"] = float((gpu.face_idx[:n].cpu() == cpu.face_idx).float().mean())
        result["cpu_gpu_max_depth_diff"] = float((gpu.depth[:n].cpu() - cpu.depth).abs().max())
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(line + "\n")
    return result


if __name__ == "__main__":
    main()

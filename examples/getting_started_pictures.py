"""The pictures of docs/getting-started.md: a photo's overlay, its ``.glb`` in a web viewer, a video frame.

    python examples/getting_started_pictures.py --out gs_out --three /path/to/node_modules

Everything runs offline with the built-in weights (``dpose_efficientnet_lite0.synthetic``) and the built-in
person detector, through ``hpskit predict`` exactly as a user runs it:

1. ``people.png``: three stand-in people rendered the way the training data is
   (``hpskit.data.synthetic.render_people``, the demo's people and floor), then
   ``hpskit predict --weights dpose_efficientnet_lite0.synthetic people.png --export obj,glb`` (no boxes).
   → ``gs_overlay.jpg`` (the photo | the overlay).
2. ``people.glb`` opened in a web viewer: a local HTML page that loads it with three.js's ``GLTFLoader``
   (npm package ``three``, from ``--three``: a ``node_modules`` folder holding it), served from a temporary
   folder on 127.0.0.1 and photographed by headless Chromium (Debian ``chromium``).
   → ``gs_glb_viewer.jpg``.
3. ``walk.mp4``: two people walking past each other (known straight paths, a simple walk cycle), drawn
   frame by frame with ``render_people``; then ``hpskit predict walk.mp4`` (detection, tracking,
   smoothing) and one frame of its ``walk_overlay.mp4``. → ``gs_video_frame.jpg``.

The JPEGs go to ``--img-dir`` (default ``docs/img``), each under 200 KB. A synthetic scene is used
because the shipped model is a synthetic-domain model: on it the meshes fit; what it does on real
photographs is in docs/results.md ("Real photographs", ``examples/real_photos.py``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import math
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch
from PIL import Image

from hpskit.cli import main as hpskit_main
from hpskit.data.synthetic import SyntheticConfig, SyntheticHumans, render_people
from hpskit.geometry import axis_angle_to_rotmat, intrinsics_from_focal
from hpskit.models import DPoSE
from hpskit.video import VideoSource, VideoWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import floor_background, make_people  # noqa: E402  (the demo's people and floor)

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "dpose_efficientnet_lite0.synthetic"

VIEWER_HTML = """<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports": {"three": "./three/build/three.module.js",
                                      "three/addons/": "./three/examples/jsm/"}}</script>
</head><body style="margin:0"><script type="module">
import * as THREE from 'three';
import {GLTFLoader} from 'three/addons/loaders/GLTFLoader.js';
const W = __W__, H = __H__, az = __AZ__ * Math.PI / 180, el = __EL__ * Math.PI / 180;
const renderer = new THREE.WebGLRenderer({antialias: true, preserveDrawingBuffer: true});
renderer.setSize(W, H); renderer.setClearColor(0xf4f4f4); document.body.appendChild(renderer.domElement);
const scene = new THREE.Scene();
scene.add(new THREE.HemisphereLight(0xffffff, 0x666666, 2.0));
const sun = new THREE.DirectionalLight(0xffffff, 2.0); sun.position.set(2, 4, 3); scene.add(sun);
new GLTFLoader().load('scene.glb', gltf => {
  scene.add(gltf.scene);
  const box = new THREE.Box3().setFromObject(gltf.scene);  // the people (cameras have no extent)
  const c = box.getCenter(new THREE.Vector3()), s = box.getSize(new THREE.Vector3());
  const grid = new THREE.GridHelper(Math.ceil(Math.max(s.x, s.z)) + 4, Math.ceil(Math.max(s.x, s.z)) + 4,
                                    0x999999, 0xcccccc);
  grid.position.set(c.x, box.min.y, c.z); scene.add(grid);
  const cam = new THREE.PerspectiveCamera(35, W / H, 0.01, 1000);
  const d = 0.5 * s.length() / Math.sin(17.5 * Math.PI / 180);
  cam.position.set(c.x + d * Math.cos(el) * Math.sin(az), c.y + d * Math.sin(el),
                   c.z + d * Math.cos(el) * Math.cos(az));
  cam.lookAt(c);
  renderer.render(scene, cam);
  document.title = 'rendered';
}, undefined, e => { document.title = 'error ' + e; });
</script></body></html>
"""


def save_jpeg(img: Image.Image, dst: Path, max_bytes: int = 200_000) -> Path:
    """Write ``img`` as a JPEG under ``max_bytes``, atomically (temp file, then os.replace)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    for quality in (85, 75, 65, 55):
        img.convert("RGB").save(tmp, format="JPEG", quality=quality, optimize=True)
        if tmp.stat().st_size <= max_bytes:
            break
    tmp.replace(dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1000:.0f} KB)")
    return dst


def side_by_side(*images: Image.Image, gap: int = 6) -> Image.Image:
    h = min(im.height for im in images)
    images = [im.resize((round(im.width * h / im.height), h), Image.LANCZOS) for im in images]
    out = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1), h), "white")
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def predict(*args: str) -> None:
    code = hpskit_main(["predict", "--weights", WEIGHTS, "--device", "cpu", *args])
    if code != 0:
        raise SystemExit(f"hpskit predict {' '.join(args)} failed (exit status {code})")


def people_photo(body, path: Path, W: int = 640, H: int = 480, n: int = 3, seed: int = 0) -> Path:
    """The demo's scene: n stand-in people on a checkered floor, rendered like the training data."""
    g = torch.Generator().manual_seed(seed)
    K = intrinsics_from_focal(torch.tensor([1.1 * W]), W, H)[0]
    R, betas, transl = make_people(body, n, g, half_fov=W / 2 / float(K[0, 0]))
    floor_y = float((body.forward_pose(R, betas).vertices + transl[:, None])[..., 1].max())
    engine = SyntheticHumans(body, SyntheticConfig(), backgrounds="procedural")
    scene = render_people(engine, R, betas, transl, K, (W, H), seed=seed,
                          background=floor_background(K, H, W, floor_y))
    Image.fromarray(scene.image.cpu().numpy()).save(path)
    return path


def walking_clip(body, path: Path, W: int = 480, H: int = 320, fps: float = 12.0, T: int = 36) -> Path:
    """Two people walking past each other, 1 m/s, at 4.5 m and 6 m; a 1 Hz walk cycle (hips, knees,
    shoulders swinging). (T frames, written as an .mp4 with hpskit.video.VideoWriter.)"""
    t = torch.arange(T) / fps
    K = intrinsics_from_focal(torch.tensor([1.0 * W]), W, H)[0]
    face = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0]))  # upright: camera y points down
    betas = torch.tensor([[0.8] + [0.0] * 10, [-0.6, 0.5] + [0.0] * 9])
    # per person: x(t), depth, walking direction (±x), phase of the walk cycle
    paths = [(-1.6 + 1.0 * t, 4.5, 1.0, 0.0), (1.8 - 1.0 * t, 6.0, -1.0, 1.3)]
    engine = SyntheticHumans(body, SyntheticConfig(), backgrounds="procedural")
    poses, transls = [], []
    for x, z, direction, phase in paths:
        s = torch.sin(2 * math.pi * t + phase)
        rv = torch.zeros(T, 22, 3)
        rv[:, 1, 0], rv[:, 2, 0] = 0.45 * s, -0.45 * s  # hips
        rv[:, 4, 0], rv[:, 5, 0] = 0.5 * (1 + s).clamp(min=0), 0.5 * (1 - s).clamp(min=0)  # knees
        rv[:, 16, 2], rv[:, 17, 2] = -1.2, 1.2  # arms down from the T-pose
        rv[:, 16, 1], rv[:, 17, 1] = -0.4 * s, -0.4 * s  # arms swing
        R = axis_angle_to_rotmat(rv)
        turn = axis_angle_to_rotmat(torch.tensor([0.0, direction * math.pi / 2, 0.0]))
        R[:, 0] = face @ turn
        poses.append(R)
        transls.append(torch.stack([x, torch.zeros(T), torch.full((T,), z)], -1))
    pose, transl = torch.stack(poses, 1), torch.stack(transls, 1)  # (T, 2, 22, 3, 3), (T, 2, 3)
    with torch.no_grad():
        soles = max(float(body.forward_pose(pose[k], betas).vertices[..., 1].max()) for k in range(T))
    transl[..., 1] = 1.0 - soles  # soles on a floor 1 m below the camera
    background = floor_background(K, H, W, 1.0)
    with VideoWriter(path, fps, (H, W)) as video:
        for k in range(T):
            scene = render_people(engine, pose[k], betas, transl[k], K, (W, H), seed=1,
                                  background=background)
            video.write(scene.image.cpu().numpy())
    return path


def viewer_screenshot(glb: Path, three: Path, dst_png: Path, W: int = 800, H: int = 500,
                      azimuth: float = 35.0, elevation: float = 15.0) -> Path:
    """Photograph ``glb`` in a three.js page with headless Chromium (served from a temporary folder)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("needs Chromium (Debian: apt-get install chromium) for the viewer screenshot")
    if not (three / "three" / "examples" / "jsm" / "loaders" / "GLTFLoader.js").is_file():
        raise SystemExit(f"--three {three}: no npm package 'three' there (npm install --prefix DIR three)")
    with tempfile.TemporaryDirectory() as site:
        site = Path(site)
        shutil.copy(glb, site / "scene.glb")
        shutil.copytree(three / "three", site / "three", ignore=shutil.ignore_patterns("src", "*.cjs"))
        html = VIEWER_HTML
        for key, value in {"__W__": W, "__H__": H, "__AZ__": azimuth, "__EL__": elevation}.items():
            html = html.replace(key, str(value))
        (site / "index.html").write_text(html)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
        handler.log_message = lambda *a, **k: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--enable-unsafe-swiftshader",
                            "--use-angle=swiftshader", f"--window-size={W},{H}",
                            "--virtual-time-budget=15000",
                            f"--screenshot={dst_png}", url], check=True, capture_output=True, timeout=120)
        finally:
            server.shutdown()
    return dst_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gs_out", help="work folder (inputs and hpskit predict's results)")
    ap.add_argument("--img-dir", default=str(REPO / "docs" / "img"), help="where the JPEGs go")
    ap.add_argument("--three", required=True, help="a node_modules folder holding the npm package 'three'")
    args = ap.parse_args()
    out, img_dir = Path(args.out), Path(args.img_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    torch.manual_seed(0)
    body = DPoSE.from_pretrained(WEIGHTS).body_model  # the stand-in body the shipped weights use

    photo = people_photo(body, out / "people.png")
    predict(str(photo), "--out", str(out / "photo"), "--export", "obj,glb")
    for f in sorted((out / "photo").iterdir()):
        print(f"hpskit predict wrote {f}")
    save_jpeg(side_by_side(Image.open(photo), Image.open(out / "photo" / "people_overlay.png")),
              img_dir / "gs_overlay.jpg")

    shot = viewer_screenshot(out / "photo" / "people.glb", Path(args.three), out / "viewer.png")
    save_jpeg(Image.open(shot), img_dir / "gs_glb_viewer.jpg")

    clip = walking_clip(body, out / "walk.mp4")
    predict(str(clip), "--out", str(out / "video"))
    for f in sorted((out / "video").iterdir()):
        print(f"hpskit predict wrote {f}")
    frames = list(VideoSource(out / "video" / "walk_overlay.mp4"))
    inputs = list(VideoSource(clip))
    k = len(frames) // 3
    save_jpeg(side_by_side(Image.fromarray(inputs[k]), Image.fromarray(frames[k])),
              img_dir / "gs_video_frame.jpg")


if __name__ == "__main__":
    main()

"""Mesh and scene export: per-person ``.obj`` / ``.ply``, per-image glTF scenes with the camera, and (for
video tracks) an animated, skinned glTF body and a BVH of the skeleton motion.

* :mod:`~hpskit.export.glb`: a small binary glTF builder and reader;
* :mod:`~hpskit.export.scene`: one image's people and camera as a ``.glb`` (camera-frame conventions);
* :mod:`~hpskit.export.meshes`: ``.obj`` / ``.ply`` through trimesh, and :func:`export_image`;
* :mod:`~hpskit.export.animation`: a track's motion as a skinned, animated ``.glb``;
* :mod:`~hpskit.export.bvh`: a track's skeleton motion as ``.bvh``.
"""

from .animation import body_skeleton, skinned_animation_glb, write_animated_glb
from .bvh import read_bvh, write_bvh
from .glb import GLBBuilder, accessor_array, atomic_write_bytes, read_glb
from .meshes import EXPORT_FORMATS, MESH_FORMATS, export_image, write_mesh
from .scene import CV_TO_GLTF, CV_TO_GLTF_QUAT, PERSON_COLORS, gltf_perspective, scene_glb, write_scene_glb

__all__ = [
    "CV_TO_GLTF",
    "CV_TO_GLTF_QUAT",
    "EXPORT_FORMATS",
    "GLBBuilder",
    "MESH_FORMATS",
    "PERSON_COLORS",
    "accessor_array",
    "atomic_write_bytes",
    "body_skeleton",
    "export_image",
    "gltf_perspective",
    "read_bvh",
    "read_glb",
    "scene_glb",
    "skinned_animation_glb",
    "write_animated_glb",
    "write_bvh",
    "write_mesh",
    "write_scene_glb",
]

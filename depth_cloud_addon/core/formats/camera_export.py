"""Camera parameters for other tools: OpenCV intrinsics, extrinsics in both axis conventions, JSON.

Pure numpy (no ``bpy``, no ``mathutils``). Conventions (the full page is ``docs/conventions.md``):

* **OpenCV pixel coordinates**: x right, y down, pixel centres at *integer* coordinates, so pixel
  ``(col, row)`` is centred at ``(col, row)``. Our own pixel coordinates put centres at
  ``+0.5``; hence ``cx_opencv = cx - 0.5`` and an unshifted camera has ``cx_opencv = (W - 1) / 2``.
* **Camera axes**: ``*_opencv`` matrices use the OpenCV camera frame (x right, y down, z forward);
  ``*_blender`` matrices use Blender's camera frame, which is also OpenGL's (x right, y up, the
  camera looks down -Z). ``cam2world_opencv = cam2world_blender @ BLENDER_TO_OPENCV_AXES``.
* **Matrices** are 4x4 for column vectors: ``p_world = cam2world @ [p_cam, 1]``; ``world2cam`` is
  its inverse. The camera object's scale is removed (Blender's renderer ignores it). Metres.
* **Image size** is that of the image Blender wrote: after the resolution percentage and, with Render
  Region and Crop to Border on, cropped to the region. K, ``cx``/``cy`` and the sizes then describe
  the cropped image (the principal point moved by the crop origin, ``fx``/``fy`` unchanged), so a
  tool given the cropped image and its record needs nothing else; the record's ``crop`` block says
  where the image lies in the full render.
* With ``K = opencv_intrinsics(camera)`` and ``world2cam = extrinsics(camera)["world2cam_opencv"]``
  a world point ``X`` projects to ``x ~ K @ world2cam[:3] @ [X, 1]``, which equals
  ``core.project(X, camera) - 0.5`` exactly (lens shift, sensor fit and pixel aspect included).

Example::

    K = opencv_intrinsics(CameraModel(width_px=64, height_px=48, lens_mm=50.0))
    # [[88.89, 0, 31.5], [0, 88.89, 23.5], [0, 0, 1]]
    write_json("cameras.json", export_cameras([camera], image_paths=["0001.png"]))
"""

from __future__ import annotations

import json
import math
import os
from pathlib import PurePath
from typing import Any

import numpy as np

from ..atomic import write_text
from ..errors import CameraError
from ..geometry.camera import BLENDER_TO_OPENCV_AXES, CameraModel

EXPORT_FORMAT = "depth_cloud.cameras"
EXPORT_VERSION = 1

#: Our pixel coordinates put pixel centres at +0.5; OpenCV's at integers.
OPENCV_PIXEL_OFFSET = 0.5

MODEL_NAMES = {
    "PERSP": "pinhole",
    "ORTHO": "orthographic",
    "EQUIRECTANGULAR": "equirectangular",
    "FISHEYE_EQUIDISTANT": "fisheye_equidistant",
    "FISHEYE_EQUISOLID": "fisheye_equisolid",
}

#: The conventions every exported record follows, written out so a reader needs no other document.
CONVENTION = {
    "K": "OpenCV: x right, y down, pixel centres at integer coordinates (cx = (W-1)/2 for an unshifted "
         "camera); a point p_cam in the OpenCV camera frame lands at (x, y, 1) ~ K @ p_cam",
    "cam2world_opencv": "4x4, p_world = M @ [p_cam, 1] with the OpenCV camera frame: x right, y down, z forward",
    "world2cam_opencv": "4x4 inverse of cam2world_opencv; [R|t] = its first 3 rows (OpenCV/COLMAP extrinsics)",
    "cam2world_blender": "4x4, p_world = M @ [p_cam, 1] with the Blender/OpenGL camera frame: x right, y up, "
                         "-z forward; the camera object's matrix_world with its scale removed",
    "world2cam_blender": "4x4 inverse of cam2world_blender",
    "axes": "cam2world_opencv = cam2world_blender @ diag(1, -1, -1, 1)",
    "world": "Blender world frame, Z up",
    "units": "metres; lens and sensor sizes in millimetres; angles in radians",
    "depth": "depth_kind 'planar' = distance along the view axis (-Z in the Blender camera frame, Cycles' "
             "Depth pass of perspective/orthographic cameras); 'distance' = length of the ray from the "
             "camera centre (Cycles' Depth pass of panoramic cameras)",
    "blender_camera": "the full Depth Cloud camera description (CameraModel.to_dict), pixel centres at +0.5",
}


# -- checks ----------------------------------------------------------------------------------


def _check_camera(camera) -> CameraModel:
    if not isinstance(camera, CameraModel):
        raise CameraError(f"expected a CameraModel, got {type(camera).__name__}")
    return camera


def _model_name(camera: CameraModel) -> str:
    return MODEL_NAMES[camera.panorama_type if camera.projection == "PANO" else camera.projection]


def _path_list(paths, n: int, what: str) -> list:
    """``paths`` as a list of n POSIX-style strings (or Nones), checking the length."""
    if paths is None:
        return [None] * n
    paths = list(paths)
    if len(paths) != n:
        raise CameraError(f"{what}: got {len(paths)} path(s) for {n} camera(s)")
    return [None if p is None else PurePath(os.fspath(p)).as_posix() for p in paths]


# -- intrinsics and extrinsics ---------------------------------------------------------------


def opencv_intrinsics(camera: CameraModel) -> np.ndarray:
    """3x3 intrinsic matrix ``K`` of a perspective camera, in OpenCV's convention.

    Convention: x right, y down, pixel centres at *integer* coordinates, so
    ``K = [[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]]`` with ``(fx, fy, cx, cy)`` from
    :meth:`CameraModel.intrinsics_px` (centres at +0.5). Lens shift, every sensor fit and the pixel
    aspect ratio (``fx != fy``) are included. A point ``p_cam`` in the OpenCV camera frame
    (x right, y down, z forward) lands at ``(x, y, 1) ~ K @ p_cam``. For a camera cropped to a render
    region (Crop to Border) K is that of the cropped image: ``cx``, ``cy`` less the crop origin.

    Orthographic and panoramic cameras have no such matrix: they raise :class:`CameraError`
    (use :func:`camera_record`, which describes them, instead).

    Example: 64x48 px, lens 50 mm, sensor 36 mm -> ``fx = fy = 64 * 50 / 36``, ``cx = 31.5``, ``cy = 23.5``.
    """
    camera = _check_camera(camera)
    if camera.projection == "ORTHO":
        raise CameraError(
            "an orthographic camera has no pinhole matrix K: use camera_record(camera), which gives "
            "pixels_per_metre_x/y and cx, cy (OpenCV convention), or CameraModel.intrinsics_px()"
        )
    if camera.projection == "PANO":
        raise CameraError(
            f"a panoramic camera ({camera.panorama_type}) is not a pinhole and has no matrix K: use "
            "camera_record(camera) for its parameters, or core.project / core.camera_rays for its mapping"
        )
    fx, fy, cx, cy = camera.intrinsics_px()
    return np.array([
        [fx, 0.0, cx - OPENCV_PIXEL_OFFSET],
        [0.0, fy, cy - OPENCV_PIXEL_OFFSET],
        [0.0, 0.0, 1.0],
    ])


def extrinsics(camera: CameraModel) -> dict:
    """The camera pose as four 4x4 float64 arrays (column vectors, ``p_world = cam2world @ [p_cam, 1]``).

    * ``cam2world_blender``: Blender/OpenGL camera frame (x right, y up, -z forward) to world; the
      camera object's ``matrix_world`` with the scale removed. ``world2cam_blender`` is its inverse.
    * ``cam2world_opencv = cam2world_blender @ BLENDER_TO_OPENCV_AXES``: OpenCV camera frame
      (x right, y down, z forward) to world. ``world2cam_opencv`` is its inverse; its first three
      rows are OpenCV's / COLMAP's ``[R | t]``.
    """
    camera = _check_camera(camera)
    cam2world_blender = camera.cam2world.copy()
    world2cam_blender = camera.world2cam
    return {
        "cam2world_opencv": cam2world_blender @ BLENDER_TO_OPENCV_AXES,
        "world2cam_opencv": BLENDER_TO_OPENCV_AXES @ world2cam_blender,  # the axis flip is its own inverse
        "cam2world_blender": cam2world_blender,
        "world2cam_blender": world2cam_blender,
    }


# -- records ---------------------------------------------------------------------------------


def _pinhole_fields(camera: CameraModel) -> dict:
    K = opencv_intrinsics(camera)
    return {
        "K": K.tolist(),
        "fx": float(K[0, 0]),
        "fy": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "distortion": [0.0, 0.0, 0.0, 0.0, 0.0],
        "note": "pinhole without distortion (OpenCV k1, k2, p1, p2, k3 all 0); K in OpenCV's convention",
    }


def _orthographic_fields(camera: CameraModel) -> dict:
    fx, fy, cx, cy = camera.intrinsics_px()
    return {
        "pixels_per_metre_x": float(fx),
        "pixels_per_metre_y": float(fy),
        "cx": float(cx - OPENCV_PIXEL_OFFSET),
        "cy": float(cy - OPENCV_PIXEL_OFFSET),
        "ortho_scale": float(camera.ortho_scale),
        "note": "orthographic, not a pinhole: with (X, Y, Z) = world2cam_opencv @ [p_world, 1], the point lands "
                "at x = cx + pixels_per_metre_x * X, y = cy + pixels_per_metre_y * Y (no division by Z; "
                "OpenCV pixel convention, centres at integers); rays are parallel to +z of the OpenCV frame",
    }


def _crop_fields(camera: CameraModel) -> dict:
    full_w, full_h = camera.full_size_px
    return {
        "x0": camera.crop_x0_px, "y0": camera.crop_y0_px, "full_width": full_w, "full_height": full_h,
        "note": "Render Region with Crop to Border: this width x height image is the window starting at column x0, "
                "row y0 (rows from the top) of the full_width x full_height render; pixel (col, row) here is pixel "
                "(col + x0, row + y0) there. K / cx / cy above already describe the cropped image",
    }


def _panorama_fields(camera: CameraModel) -> dict:
    common = (
        "panoramic, not a pinhole (no K). In pixel coordinates of the full render with centres at +0.5 "
        "(x = col + 0.5 + crop.x0, y = row + 0.5 + crop.y0, crop 0 when the record has no crop block; subtract "
        "0.5 for OpenCV's), with W, H the full render's size (crop.full_width/full_height, else width/height): "
        "u = x / W + shift_x, v = (H - y) / H + shift_y; "
    )
    kind = camera.panorama_type
    fields: dict[str, float | str] = {"shift_x": float(camera.shift_x), "shift_y": float(camera.shift_y)}
    if kind == "EQUIRECTANGULAR":
        fields.update(
            latitude_min=float(camera.latitude_min), latitude_max=float(camera.latitude_max),
            longitude_min=float(camera.longitude_min), longitude_max=float(camera.longitude_max),
            note=common + "lon = longitude_min + u (longitude_max - longitude_min), lat = latitude_min + "
                 "v (latitude_max - latitude_min); ray direction in the Blender camera frame (x right, y up, "
                 "-z forward) = (cos lat sin lon, sin lat, -cos lat cos lon)",
        )
    elif kind == "FISHEYE_EQUIDISTANT":
        fields.update(
            fisheye_fov=float(camera.fisheye_fov),
            note=common + "a = 2u - 1, b = 2v - 1, r = hypot(a, b) (no ray if r > 1), theta = r fisheye_fov / 2; "
                 "direction in the Blender camera frame = (a/r sin theta, b/r sin theta, -cos theta)",
        )
    else:  # FISHEYE_EQUISOLID
        fields.update(
            fisheye_fov=float(camera.fisheye_fov), fisheye_lens_mm=float(camera.fisheye_lens_mm),
            sensor_width_mm=float(camera.sensor_width_mm), sensor_height_mm=float(camera.sensor_height_mm),
            sensor_fit=camera.sensor_fit,
            pixel_aspect_x=float(camera.pixel_aspect_x), pixel_aspect_y=float(camera.pixel_aspect_y),
            note=common + "a = (u - 0.5) Sw, b = (v - 0.5) Sh in mm on the sensor fitted to the image like a "
                 "perspective camera's, r = hypot(a, b) (no ray if r > 2 f sin(fisheye_fov / 4)), "
                 "theta = 2 asin(r / 2f) with f = fisheye_lens_mm; direction in the Blender camera frame = "
                 "(a/r sin theta, b/r sin theta, -cos theta); see depth_cloud_addon/core/panorama.py",
        )
    return fields


def camera_record(camera: CameraModel, *, image_path=None, depth_path=None) -> dict:
    """One JSON-ready record describing ``camera`` (one rendered frame) for other tools.

    Keys: ``frame``, ``name``, ``width``, ``height`` (pixels after the resolution percentage and the
    crop to the render region, i.e. the size of the image Blender wrote), ``crop`` only for a camera
    cropped to a render region (``x0``, ``y0``: the image's top-left pixel in the full render, rows
    from the top; ``full_width``, ``full_height``),
    ``model`` (``"pinhole"``, ``"orthographic"``, ``"equirectangular"``, ``"fisheye_equidistant"``,
    ``"fisheye_equisolid"``), the model's parameters in OpenCV's pixel convention (centres at
    integers):

    * pinhole: ``K``, ``fx``, ``fy``, ``cx``, ``cy``, ``distortion`` (five zeros);
    * orthographic: ``pixels_per_metre_x/y``, ``cx``, ``cy``, ``ortho_scale`` and the formula in ``note``;
    * panoramic: the fields of the mapping (latitude/longitude ranges, fisheye fov/lens, sensor)
      and its formula in ``note``;

    then ``cam2world_opencv``, ``world2cam_opencv``, ``cam2world_blender``, ``world2cam_blender``
    (4x4 nested lists, see :func:`extrinsics`), ``depth_kind`` (what Cycles' Depth pass holds for
    this camera), ``convention`` (the strings of :data:`CONVENTION`), ``image_path``/``depth_path``
    when given, and ``blender_camera`` = ``camera.to_dict()`` so that nothing is lost
    (``CameraModel.from_dict(record["blender_camera"])`` rebuilds the camera).
    """
    camera = _check_camera(camera)
    record: dict[str, Any] = {
        "frame": camera.frame,
        "name": camera.name,
        "width": camera.width_px,
        "height": camera.height_px,
        "model": _model_name(camera),
    }
    if camera.is_cropped:
        record["crop"] = _crop_fields(camera)
    if camera.projection == "PERSP":
        record.update(_pinhole_fields(camera))
    elif camera.projection == "ORTHO":
        record.update(_orthographic_fields(camera))
    else:
        record.update(_panorama_fields(camera))
    record.update({key: matrix.tolist() for key, matrix in extrinsics(camera).items()})
    record["depth_kind"] = camera.natural_depth_kind()
    if image_path is not None:
        record["image_path"] = PurePath(os.fspath(image_path)).as_posix()
    if depth_path is not None:
        record["depth_path"] = PurePath(os.fspath(depth_path)).as_posix()
    record["convention"] = dict(CONVENTION)
    record["blender_camera"] = camera.to_dict()
    return record


def export_cameras(cameras, *, image_paths=None, depth_paths=None) -> dict:
    """``{"format", "version", "convention": {...}, "frames": [camera_record, ...]}`` for a camera sequence.

    ``image_paths`` / ``depth_paths``: ``None`` or one path (or ``None``) per camera, stored as given
    (with ``/`` separators). Each frame is a full :func:`camera_record` (its ``convention`` included,
    so one record read alone is still self-describing).
    """
    cameras = [_check_camera(c) for c in cameras]
    images = _path_list(image_paths, len(cameras), "image_paths")
    depths = _path_list(depth_paths, len(cameras), "depth_paths")
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "convention": dict(CONVENTION),
        "frames": [camera_record(c, image_path=i, depth_path=d) for c, i, d in zip(cameras, images, depths)],
    }


# -- nerfstudio ------------------------------------------------------------------------------

_NERFSTUDIO_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1", "p2")
_FULL_RANGE_TOLERANCE = 1e-6  # radians


def _nerfstudio_intrinsics(camera: CameraModel) -> dict:
    """nerfstudio's camera_model and intrinsics of one camera (pixel centres at +0.5, see below)."""
    label = f"camera {camera.name!r}" if camera.name else "camera"
    if camera.projection == "ORTHO":
        raise CameraError(
            f"{label} is orthographic: the nerfstudio export supports perspective cameras (OPENCV) and full "
            "equirectangular panoramas (EQUIRECTANGULAR); use export_cameras() for orthographic cameras"
        )
    if camera.projection == "PANO":
        if camera.panorama_type != "EQUIRECTANGULAR":
            raise CameraError(
                f"{label} is a {camera.panorama_type} panorama, which nerfstudio's camera models do not match "
                "(its OPENCV_FISHEYE is a distortion model, not Cycles' mapping); use export_cameras() instead"
            )
        full = (
            abs(camera.latitude_min + math.pi / 2) <= _FULL_RANGE_TOLERANCE
            and abs(camera.latitude_max - math.pi / 2) <= _FULL_RANGE_TOLERANCE
            and abs(camera.longitude_min + math.pi) <= _FULL_RANGE_TOLERANCE
            and abs(camera.longitude_max - math.pi) <= _FULL_RANGE_TOLERANCE
        )
        if not full or camera.shift_x != 0 or camera.shift_y != 0:
            raise CameraError(
                f"{label}: nerfstudio's EQUIRECTANGULAR model is the full sphere (latitude -90..90 deg, "
                "longitude -180..180 deg) without lens shift; this camera has latitude "
                f"{math.degrees(camera.latitude_min):g}..{math.degrees(camera.latitude_max):g} deg, longitude "
                f"{math.degrees(camera.longitude_min):g}..{math.degrees(camera.longitude_max):g} deg, shift "
                f"({camera.shift_x:g}, {camera.shift_y:g}); use export_cameras() instead"
            )
        full_w, full_h = camera.full_size_px
        return {"camera_model": "EQUIRECTANGULAR", "fl_x": full_w / 2.0, "fl_y": float(full_h),
                "cx": full_w / 2.0 - camera.crop_x0_px, "cy": full_h / 2.0 - camera.crop_y0_px,
                "w": camera.width_px, "h": camera.height_px}
    fx, fy, cx, cy = camera.intrinsics_px()
    return {"camera_model": "OPENCV", "fl_x": float(fx), "fl_y": float(fy), "cx": float(cx), "cy": float(cy),
            "w": camera.width_px, "h": camera.height_px,
            "k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0, "p1": 0.0, "p2": 0.0}


def nerfstudio_transforms(cameras, image_paths, *, depth_paths=None) -> dict:
    """A nerfstudio ``transforms.json`` (its "nerfstudio data format") for a camera sequence.

    Conventions, as nerfstudio defines them (``docs/quickstart/data_conventions.md`` and
    ``nerfstudio/cameras/cameras.py`` in nerfstudio-project/nerfstudio):

    * ``transform_matrix`` is cam2world with the OpenGL/Blender camera axes (x right, y up, looking
      down -Z): our ``cam2world_blender``, written unchanged.
    * ``cx``, ``cy`` use pixel centres at **+0.5**, *not* OpenCV's integer centres: nerfstudio
      generates the ray of pixel ``(col, row)`` through ``(col + 0.5, row + 0.5)``
      (``Cameras.get_image_coords(pixel_offset=0.5)``) as ``((x - cx) / fx, -(y - cy) / fy, -1)``.
      That is exactly Depth Cloud's own convention, so ``cx``/``cy`` are
      :meth:`CameraModel.intrinsics_px` values (``cx = W / 2`` for an unshifted camera), not
      ``opencv_intrinsics``' (which are 0.5 smaller).
    * Perspective cameras: ``camera_model "OPENCV"`` with ``fl_x, fl_y, cx, cy, w, h`` and zero
      distortion (``k1..k4, p1, p2``).
    * Equirectangular panoramas covering the full sphere (latitude -90..90 deg, longitude -180..180
      deg, no shift): ``camera_model "EQUIRECTANGULAR"`` with ``fl_x = W / 2``, ``fl_y = H``,
      ``cx = W / 2``, ``cy = H / 2``: nerfstudio's longitude ``pi (x - cx) / fl_x`` and latitude
      ``pi (cy - y) / fl_y`` are then exactly Cycles' (forward = -Z at the image centre, +X to the right).
      Other panoramas and orthographic cameras raise :class:`CameraError`.
    * A camera cropped to a render region (Crop to Border): ``w``, ``h`` are the cropped image's size
      and ``cx``, ``cy`` are moved by the crop origin (for the panorama: ``W``, ``H`` above are the
      full render's, ``cx = W / 2 - crop_x0``, ``cy = H / 2 - crop_y0``), so nerfstudio's rays for
      the cropped image are those of the full render's pixels.

    If every frame has the same intrinsics they go to the top level, otherwise into each frame
    (``camera_model`` is always top-level: nerfstudio reads it only there, so all cameras must share it).
    ``image_paths`` (required) and ``depth_paths`` are written as given, with ``/`` separators, and
    should be relative to the folder of ``transforms.json``. nerfstudio reads ``depth_file_path``
    images as planar depth (its depth losses default to ``is_euclidean=False``), which is what
    Cycles writes for perspective cameras, and multiplies them by ``depth_unit_scale_factor``
    (default 1e-3, for millimetres): for depth in metres set that to 1.
    """
    cameras = [_check_camera(c) for c in cameras]
    if not cameras:
        raise CameraError("nerfstudio_transforms needs at least one camera")
    if image_paths is None:
        raise CameraError("nerfstudio_transforms needs image_paths: every nerfstudio frame has a file_path")
    images = _path_list(image_paths, len(cameras), "image_paths")
    if any(p is None for p in images):
        raise CameraError("nerfstudio_transforms: every camera needs an image path (file_path)")
    depths = _path_list(depth_paths, len(cameras), "depth_paths")
    if depth_paths is not None and any(p is None for p in depths):
        raise CameraError("nerfstudio_transforms: give a depth path for every frame or none (nerfstudio's rule)")

    intrinsics = [_nerfstudio_intrinsics(c) for c in cameras]
    models = sorted({i["camera_model"] for i in intrinsics})
    if len(models) > 1:
        raise CameraError(
            f"nerfstudio reads one camera_model per transforms.json, but these cameras mix {' and '.join(models)}"
        )
    out = {"camera_model": models[0]}
    shared = all(i == intrinsics[0] for i in intrinsics)
    if shared:
        out.update({k: v for k, v in intrinsics[0].items() if k != "camera_model"})
    frames = []
    for camera, intr, image, depth in zip(cameras, intrinsics, images, depths):
        frame = {"file_path": image, "transform_matrix": camera.cam2world.tolist()}
        if depth is not None:
            frame["depth_file_path"] = depth
        if not shared:
            frame.update({k: intr[k] for k in _NERFSTUDIO_INTRINSIC_KEYS if k in intr})
        frames.append(frame)
    out["frames"] = frames
    return out


# -- JSON ------------------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, PurePath):
        return value.as_posix()
    raise TypeError(f"cannot write a {type(value).__name__} to JSON")


def write_json(path, data) -> None:
    """Write ``data`` as JSON (``indent=1``) to ``path`` atomically: a temporary file, then ``os.replace``.

    numpy arrays and scalars are written as lists and numbers. NaN or infinity raise ``ValueError``
    (strict JSON); on any error the temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    text = json.dumps(data, indent=1, allow_nan=False, default=_json_default)
    write_text(path, text + "\n")


__all__ = [
    "CONVENTION", "EXPORT_FORMAT", "EXPORT_VERSION", "MODEL_NAMES", "camera_record", "export_cameras",
    "extrinsics", "nerfstudio_transforms", "opencv_intrinsics", "write_json",
]

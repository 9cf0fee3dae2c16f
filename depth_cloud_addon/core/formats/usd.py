"""USD point caches: a whole sequence's clouds and its render camera in one ``.usd``/``.usda``/``.usdc``.

Needs ``usd-core`` (``pip install 'depth-cloud[usd]'``), imported when a file is written. The stage:

* ``metersPerUnit`` 1, ``upAxis`` Z (Blender's world), time codes = frame numbers,
  ``timeCodesPerSecond`` = ``framesPerSecond`` = the capture's fps; ``defaultPrim`` ``/DepthCloud``.
* ``/DepthCloud/Points`` (``UsdGeom.Points``), one time sample per frame (the count may change):
  ``points`` (metres, world), ``widths`` (twice :attr:`CloudArrays.radii`: the diameter of a round point that
  covers its pixel's footprint), ``normals`` (unit, vertex: a cloud of surface discs' normals, the widths then
  their diameters; or towards the camera, when asked for), ``primvars:displayColor`` (linear RGB, vertex) and
  ``primvars:displayOpacity`` (alpha), ``ids`` (stable per pixel: ``row * width + col`` of the written image),
  ``velocities`` (metres per second: the ``motion`` attribute times fps, 0 where the motion is unknown) when the
  cloud has ``motion``, and every other point attribute (:mod:`.passes`) as a vertex primvar of its name.
* or, with ``faces=True``, ``/DepthCloud/Faces`` (``UsdGeom.Mesh``): one camera-facing quad per pixel
  (:func:`.surfaces.pixel_quads`), ``displayColor`` per face.
* ``/DepthCloud/Camera`` (``UsdGeom.Camera``), animated: ``xformOp:transform`` = the camera's cam2world
  (USD cameras look down -Z with +Y up, as Blender's), and the lens as USD measures it, in tenths of a scene
  unit (``metersPerUnit`` 1: a 50 mm lens is ``focalLength`` 0.5): with Blender's intrinsics
  ``(fx, fy, cx, cy)`` (pixel centres at +0.5) of a W x H image, ``horizontalAperture = F W / fx``,
  ``verticalAperture = F H / fy``, ``horizontalApertureOffset = F (W/2 - cx) / fx``,
  ``verticalApertureOffset = F (cy - H/2) / fy`` (``F`` the focal length; orthographic cameras use
  ``F = 10``: the apertures are the view's size in tenths of a metre); ``clippingRange`` = (clip_start,
  clip_end). USD's projection of a point then lands on Blender's pixel. Panoramic cameras have no USD
  equivalent: the file then has no camera (and the writer says so in :attr:`UsdWriter.notes`).

The file is written when the writer closes, atomically (nothing at the path until it is complete).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np

from ..atomic import atomic_path, library_path
from ..errors import DepthCloudError, MissingPackageError, NoValidDepthError, cannot_write
from ..geometry.camera import CameraModel
from ..geometry.surfaces import pixel_quads

__all__ = ["UsdWriter", "usd_camera_parameters", "usd_facts", "usd_is_complete"]

JOB_KEY = "depthCloudJob"  # customLayerData: the job fingerprint (see core.frames.export.job_id)
ROOT = "/DepthCloud"


def _pxr():
    try:
        from pxr import Gf, Sdf, Usd, UsdGeom, Vt
    except ImportError:
        raise MissingPackageError("USD output needs USD's Python module pxr: pip install 'depth-cloud[usd]' "
                                  "(usd-core); in Blender, a Blender build that bundles it, or depth-cloud convert "
                                  "-o NAME.usd", package="pxr", install="pip install 'depth-cloud[usd]'") from None
    return Gf, Sdf, Usd, UsdGeom, Vt


def usd_camera_parameters(camera: CameraModel) -> dict:
    """The USD camera attributes that reproduce ``camera``'s projection (see the module docstring)."""
    fx, fy, cx, cy = camera.intrinsics_px()
    w, h = camera.width_px, camera.height_px
    if camera.projection == "PERSP":
        focal, projection = camera.lens_mm / 100.0, "perspective"
    else:
        focal, projection = 10.0, "orthographic"
    out = {"projection": projection, "horizontalAperture": focal * w / fx, "verticalAperture": focal * h / fy,
           "horizontalApertureOffset": focal * (0.5 * w - cx) / fx,
           "verticalApertureOffset": focal * (cy - 0.5 * h) / fy,
           "clippingRange": (camera.clip_start, camera.clip_end)}
    if camera.projection == "PERSP":
        out["focalLength"] = focal
    return out


class UsdWriter:
    """Add frames' clouds (:meth:`add`), then :meth:`close` to write the file. Use as a context manager:
    an exception inside the block writes nothing."""

    def __init__(self, path, *, fps: float = 24.0, faces: bool = False, job: str | None = None, origin=None):
        Gf, Sdf, Usd, UsdGeom, Vt = _pxr()
        self._pxr = (Gf, Sdf, Usd, UsdGeom, Vt)
        self.path, self.fps, self.faces, self.job = os.fspath(path), float(fps), faces, job
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise DepthCloudError(f"fps must be a finite number > 0, got {fps}")
        self.origin = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
        if self.origin.shape != (3,) or not np.isfinite(self.origin).all():
            raise DepthCloudError(f"an origin is three finite numbers, got {origin!r}")
        self.stage = Usd.Stage.CreateInMemory()
        UsdGeom.SetStageUpAxis(self.stage, UsdGeom.Tokens.z)
        UsdGeom.SetStageMetersPerUnit(self.stage, 1.0)
        self.stage.SetTimeCodesPerSecond(self.fps)
        self.stage.SetFramesPerSecond(self.fps)
        root = UsdGeom.Xform.Define(self.stage, ROOT)
        if self.origin.any():  # the points and the camera below are relative to it; the translation is in double
            root.AddTranslateOp(UsdGeom.XformOp.PrecisionDouble).Set(Gf.Vec3d(*self.origin.tolist()))
        self.stage.SetDefaultPrim(root.GetPrim())
        self.frames: list[int] = []
        self.points_written = 0
        self.notes: list[str] = []
        self._camera: Any = None  # pxr's UsdGeom.Camera / Mesh or Points once defined (pxr has no type stubs)
        self._geometry: Any = None
        self._primvars: dict[str, object] = {}

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()

    def _define_geometry(self):
        _, _, _, UsdGeom, _ = self._pxr
        if self._geometry is None:
            if self.faces:
                self._geometry = UsdGeom.Mesh.Define(self.stage, f"{ROOT}/Faces")
                self._geometry.CreateDoubleSidedAttr(True)
                self._geometry.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
            else:
                self._geometry = UsdGeom.Points.Define(self.stage, f"{ROOT}/Points")
        return self._geometry

    def _primvar(self, name: str, type_name, interpolation):
        _, _, _, UsdGeom, _ = self._pxr
        if name not in self._primvars:
            api = UsdGeom.PrimvarsAPI(self._geometry.GetPrim())
            self._primvars[name] = api.CreatePrimvar(name, type_name, interpolation)
        return self._primvars[name]

    def _write_camera(self, camera: CameraModel, time: float) -> None:
        Gf, _, _, UsdGeom, _ = self._pxr
        if camera.projection == "PANO":
            note = "panoramic cameras have no USD equivalent: the file has no camera"
            if note not in self.notes:
                self.notes.append(note)
            return
        if self._camera is None:
            self._camera = UsdGeom.Camera.Define(self.stage, f"{ROOT}/Camera")
            self._camera_op = self._camera.AddTransformOp()
        params = usd_camera_parameters(camera)
        cam2world = np.array(camera.cam2world, np.float64)
        cam2world[:3, 3] -= self.origin  # under the root's translation to the origin
        self._camera_op.Set(Gf.Matrix4d(cam2world.T.tolist()), time)
        cam = self._camera
        cam.GetProjectionAttr().Set(params["projection"], time)
        cam.GetHorizontalApertureAttr().Set(params["horizontalAperture"], time)
        cam.GetVerticalApertureAttr().Set(params["verticalAperture"], time)
        cam.GetHorizontalApertureOffsetAttr().Set(params["horizontalApertureOffset"], time)
        cam.GetVerticalApertureOffsetAttr().Set(params["verticalApertureOffset"], time)
        cam.GetClippingRangeAttr().Set(Gf.Vec2f(*params["clippingRange"]), time)
        if "focalLength" in params:
            cam.GetFocalLengthAttr().Set(params["focalLength"], time)

    def add(self, cloud, frame: int | None = None) -> int:
        """Add one frame's cloud (:class:`.cloud.CloudArrays`, world space) at time code ``frame`` (default:
        its camera's frame); returns the number of points (or faces) written."""
        _, Sdf, _, UsdGeom, Vt = self._pxr
        if cloud.space != "world":
            raise DepthCloudError("USD point caches hold world-space clouds: build with space 'world'")
        frame = frame if frame is not None else cloud.camera.frame
        if frame is None:
            frame = (self.frames[-1] + 1) if self.frames else 1
        time = float(frame)
        finite = np.isfinite(cloud.points).all(axis=1) if not self.faces else np.ones(len(cloud.rows), bool)
        if not finite.any():
            raise NoValidDepthError(f"frame {frame}: no point to write")
        geometry = self._define_geometry()
        colors = np.ascontiguousarray(cloud.colors[finite], np.float32)
        if self.faces:
            relative = bool(self.origin.any())  # then in float64, relative to the origin, before float32
            corners = pixel_quads(cloud.depths, cloud.rows, cloud.cols, cloud.camera, depth_kind=cloud.depth_kind,
                                  space="world", size=cloud.stride, dtype=np.float64 if relative else np.float32)
            if relative:
                corners = (corners - self.origin).astype(np.float32)
            n = len(corners)
            geometry.GetPointsAttr().Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(corners.reshape(-1, 3),
                                                                                     np.float32)), time)
            geometry.GetFaceVertexCountsAttr().Set(Vt.IntArray.FromNumpy(np.full(n, 4, np.int32)), time)
            geometry.GetFaceVertexIndicesAttr().Set(Vt.IntArray.FromNumpy(np.arange(4 * n, dtype=np.int32)), time)
            interpolation = UsdGeom.Tokens.uniform
        else:
            n = int(finite.sum())
            points = cloud.positions(self.origin, np.float32) if self.origin.any() else cloud.points
            geometry.GetPointsAttr().Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(points[finite])), time)
            geometry.GetWidthsAttr().Set(Vt.FloatArray.FromNumpy(np.ascontiguousarray(2.0 * cloud.radii[finite],
                                                                                        np.float32)), time)
            geometry.SetWidthsInterpolation(UsdGeom.Tokens.vertex)
            if cloud.normals is not None:
                geometry.GetNormalsAttr().Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(cloud.normals[finite],
                                                                                           np.float32)), time)
                geometry.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
            ids = cloud.rows[finite].astype(np.int64) * cloud.camera.width_px + cloud.cols[finite]
            geometry.GetIdsAttr().Set(Vt.Int64Array.FromNumpy(ids), time)
            if "motion" in cloud.attributes:
                velocity = np.nan_to_num(cloud.attributes["motion"][finite], nan=0.0) * np.float32(self.fps)
                geometry.GetVelocitiesAttr().Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(velocity,
                                                                                             np.float32)), time)
            interpolation = UsdGeom.Tokens.vertex
        self._primvar("displayColor", Sdf.ValueTypeNames.Color3fArray, interpolation).Set(
            Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(colors[:, :3])), time)
        self._primvar("displayOpacity", Sdf.ValueTypeNames.FloatArray, interpolation).Set(
            Vt.FloatArray.FromNumpy(np.ascontiguousarray(colors[:, 3])), time)
        for name, values in cloud.attributes.items():
            values = np.asarray(values)[finite]
            if values.ndim == 2:
                kind, array = Sdf.ValueTypeNames.Float3Array, Vt.Vec3fArray.FromNumpy(
                    np.ascontiguousarray(values, np.float32))
            elif values.dtype.kind in "biu":
                kind, array = Sdf.ValueTypeNames.IntArray, Vt.IntArray.FromNumpy(values.astype(np.int32))
            else:
                kind, array = Sdf.ValueTypeNames.FloatArray, Vt.FloatArray.FromNumpy(values.astype(np.float32))
            self._primvar(name, kind, interpolation).Set(array, time)
        self._write_camera(cloud.camera, time)
        self.frames.append(int(frame))
        self.points_written += n
        return n

    def close(self) -> str:
        """Write the file (atomically); returns its path. :class:`NoValidDepthError` without frames."""
        if not self.frames:
            raise NoValidDepthError(f"{self.path}: no frame to write")
        self.stage.SetStartTimeCode(float(min(self.frames)))
        self.stage.SetEndTimeCode(float(max(self.frames)))
        layer = self.stage.GetRootLayer()
        data = dict(layer.customLayerData)
        data.update({"writer": "depth-cloud", "frames": len(self.frames)})
        if self.job:
            data[JOB_KEY] = self.job
        layer.customLayerData = data
        extension = os.path.splitext(self.path)[1].lower()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with atomic_path(self.path, suffix=extension) as tmp, library_path(tmp) as writable:
            try:
                written = layer.Export(writable)
            except Exception as exc:  # pxr's Tf errors: a message of the library's internals
                raise cannot_write(self.path, OSError(_first_line(exc))) from None
            if not written:
                raise cannot_write(self.path, OSError("USD could not write the file"))
        return self.path


def _first_line(exc: BaseException) -> str:
    """The reason in a pxr error's text (its last 'Error ...' line without the C++ location), one line."""
    text = str(exc).strip().splitlines()
    reasons = [line.strip() for line in text if line.strip() and not line.strip().startswith(("Error in", "Error:"))]
    return (reasons[-1] if reasons else (text[-1] if text else type(exc).__name__))[:200]


def usd_facts(path) -> dict | None:
    """What a point cache holds, for ``inspect``: ``writer``, ``job``, ``frames`` (time samples), ``start``,
    ``end``, ``fps``, ``geometry`` ("Points" or "Faces"), ``first`` (points or faces of the first sample),
    ``camera`` (bool), ``origin`` (the root's translation, or None); None when USD cannot open it (or no
    usd-core). Never raises."""
    with contextlib.suppress(Exception):
        _, _, Usd, _, _ = _pxr()
        layer = _open_layer(path)
        if layer is None:
            return None
        stage = Usd.Stage.Open(layer)
        data = dict(layer.customLayerData)
        facts: dict = {"writer": data.get("writer"), "job": data.get(JOB_KEY), "fps": stage.GetTimeCodesPerSecond(),
                       "start": stage.GetStartTimeCode(), "end": stage.GetEndTimeCode(), "geometry": None,
                       "camera": bool(stage.GetPrimAtPath(f"{ROOT}/Camera")), "origin": None}
        for name in ("Points", "Faces"):
            prim = stage.GetPrimAtPath(f"{ROOT}/{name}")
            if prim:
                points = prim.GetAttribute("points")
                times = points.GetTimeSamples()
                facts.update(geometry=name, frames=len(times))
                if times:
                    value = points.Get(times[0])
                    facts["first"] = len(value) // (4 if name == "Faces" else 1)
        root = stage.GetPrimAtPath(ROOT)
        if root:
            translate = root.GetAttribute("xformOp:translate")
            if translate and translate.Get() is not None:
                facts["origin"] = tuple(float(v) for v in translate.Get())
        return facts
    return None


def usd_is_complete(path, job: str | None = None) -> bool:
    """True if ``path`` is a point cache :class:`UsdWriter` wrote to the end: USD opens it, its layer records
    ``job`` (when given), and its points (or faces) have a time sample for each of the frames it records. False
    without usd-core. Never raises."""
    with contextlib.suppress(Exception):
        _, _, Usd, _, _ = _pxr()
        layer = _open_layer(path)
        if layer is None:
            return False
        data = dict(layer.customLayerData)
        if data.get("writer") != "depth-cloud" or (job is not None and data.get(JOB_KEY) != job):
            return False
        stage = Usd.Stage.Open(layer)
        prim = stage.GetPrimAtPath(f"{ROOT}/Points") or stage.GetPrimAtPath(f"{ROOT}/Faces")
        return bool(prim) and prim.GetAttribute("points").GetNumTimeSamples() == int(data.get("frames", -1)) > 0
    return False


def _open_layer(path):
    """The USD layer of the file at ``path``, opened anonymously (None when USD cannot); raises without usd-core."""
    _, Sdf, _, _, _ = _pxr()
    with library_path(path) as readable:
        return Sdf.Layer.OpenAsAnonymous(readable)

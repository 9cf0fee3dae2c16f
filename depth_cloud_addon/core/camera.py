"""The camera model: everything needed to map pixels to rays and back for one rendered frame.

Conventions (the full page is ``docs/conventions.md``):

* Image: ``width_px`` x ``height_px`` pixels *after* the resolution percentage. Continuous pixel
  coordinates ``(x, y)``: x to the right, y down, origin at the top-left corner of the image, so
  pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)`` and its centre is
  ``(col + 0.5, row + 0.5)``. Image rows run top-down (EXR row 0 is the top row).
* Camera frame: Blender's. x right, y up, the camera looks down **-Z**; metres.
* ``cam2world``: 4x4, maps camera-frame points to world points. It is the camera object's
  ``matrix_world`` with the scale removed from each axis, as Blender's renderer does.

The perspective and orthographic models follow Blender's ``BKE_camera_params_compute_viewplane``
and Cycles' ``blender_camera_viewplane`` (sensor fit, lens shift, pixel aspect); the panoramic
models follow Cycles' ``kernel/camera/projection.h``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .errors import CameraError

#: Camera projections, as Blender names them in ``Camera.type``.
PROJECTIONS = ("PERSP", "ORTHO", "PANO")
#: Panoramic models this library maps exactly (the ones Cycles renders and we test).
PANORAMA_TYPES = ("EQUIRECTANGULAR", "FISHEYE_EQUIDISTANT", "FISHEYE_EQUISOLID")
SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")

#: Blender camera axes (x right, y up, -z forward) -> OpenCV camera axes (x right, y down, z forward).
BLENDER_TO_OPENCV_AXES = np.diag([1.0, -1.0, -1.0, 1.0])

DICT_FORMAT = "depth_cloud.camera"
DICT_VERSION = 1


def _normalized_axes(matrix) -> np.ndarray:
    """Return a float64 copy of a 4x4 matrix with each of its three axis columns scaled to length 1."""
    m = np.array(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise CameraError(f"cam2world must be a finite 4x4 matrix, got shape {m.shape}")
    lengths = np.linalg.norm(m[:3, :3], axis=0)
    if np.any(lengths < 1e-12):
        raise CameraError("cam2world has a zero-length axis (camera scaled to 0)")
    # Leave unit axes untouched so that normalising is idempotent (JSON round trips stay bit-exact).
    lengths[np.abs(lengths - 1.0) <= 1e-12] = 1.0
    m[:3, :3] /= lengths
    m[3] = (0.0, 0.0, 0.0, 1.0)
    return m


def render_size_px(resolution_x: int, resolution_y: int, percentage: int) -> tuple[int, int]:
    """Width and height in pixels of the rendered image, as Blender computes them (integer division)."""
    return (int(resolution_x) * int(percentage)) // 100, (int(resolution_y) * int(percentage)) // 100


@dataclass(frozen=True)
class CameraModel:
    """One frame's camera: projection parameters, image size and pose.

    Lengths are in millimetres where Blender uses them (``lens_mm``, ``sensor_*_mm``), metres
    otherwise; angles in radians. Build it with :meth:`from_blender` inside Blender, or
    :meth:`from_dict` from a JSON sidecar.

    Example::

        cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0)
        cam.intrinsics_px()   # (fx, fy, cx, cy) in the pixel-centre-at-+0.5 convention
    """

    width_px: int
    height_px: int
    projection: str = "PERSP"
    cam2world: np.ndarray = field(default_factory=lambda: np.eye(4))
    lens_mm: float = 50.0
    sensor_width_mm: float = 36.0
    sensor_height_mm: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0
    ortho_scale: float = 6.0
    clip_start: float = 0.1
    clip_end: float = 1000.0
    panorama_type: str = "EQUIRECTANGULAR"
    fisheye_fov: float = math.pi
    fisheye_lens_mm: float = 10.5
    latitude_min: float = -math.pi / 2
    latitude_max: float = math.pi / 2
    longitude_min: float = -math.pi
    longitude_max: float = math.pi
    frame: int | None = None
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "cam2world", _normalized_axes(self.cam2world))
        try:
            width_px, height_px = int(self.width_px), int(self.height_px)
        except (TypeError, ValueError):
            raise CameraError(f"image size must be whole numbers, got {self.width_px!r}x{self.height_px!r}") from None
        if width_px < 1 or height_px < 1:
            raise CameraError(f"image size must be at least 1x1 px, got {width_px}x{height_px}")
        object.__setattr__(self, "width_px", width_px)
        object.__setattr__(self, "height_px", height_px)
        if self.projection not in PROJECTIONS:
            raise CameraError(f"unknown camera projection {self.projection!r}; expected one of {PROJECTIONS}")
        if self.sensor_fit not in SENSOR_FITS:
            raise CameraError(f"unknown sensor_fit {self.sensor_fit!r}; expected one of {SENSOR_FITS}")
        if self.projection == "PANO" and self.panorama_type not in PANORAMA_TYPES:
            raise CameraError(
                f"panorama type {self.panorama_type!r} is not supported; supported: {', '.join(PANORAMA_TYPES)}"
            )
        for name in ("lens_mm", "sensor_width_mm", "sensor_height_mm", "pixel_aspect_x", "pixel_aspect_y",
                     "ortho_scale", "fisheye_fov", "fisheye_lens_mm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise CameraError(f"{name} must be a positive number, got {value!r}")
        if not (0 <= self.clip_start < self.clip_end):
            raise CameraError(f"need 0 <= clip_start < clip_end, got {self.clip_start} and {self.clip_end}")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_blender(cls, camera_object, scene) -> CameraModel:
        """Read a Blender camera object and the scene's render settings at the current frame.

        Duck-typed: it reads attributes only (``camera_object.data``, ``camera_object.matrix_world``,
        ``scene.render``) and imports neither bpy nor mathutils. Evaluate the frame first
        (``scene.frame_set(n)``) so ``matrix_world`` and animated camera data are those of frame n.
        """
        data = getattr(camera_object, "data", None)
        if data is None or not hasattr(data, "lens"):
            name = getattr(camera_object, "name", camera_object)
            raise CameraError(f"object {name!r} is not a camera")
        render = scene.render
        width_px, height_px = render_size_px(render.resolution_x, render.resolution_y, render.resolution_percentage)
        kwargs = dict(
            width_px=width_px,
            height_px=height_px,
            projection=str(data.type),
            cam2world=np.array(camera_object.matrix_world, dtype=np.float64),
            lens_mm=float(data.lens),
            sensor_width_mm=float(data.sensor_width),
            sensor_height_mm=float(data.sensor_height),
            sensor_fit=str(data.sensor_fit),
            shift_x=float(data.shift_x),
            shift_y=float(data.shift_y),
            pixel_aspect_x=float(render.pixel_aspect_x),
            pixel_aspect_y=float(render.pixel_aspect_y),
            ortho_scale=float(data.ortho_scale),
            clip_start=float(data.clip_start),
            clip_end=float(data.clip_end),
            frame=int(scene.frame_current),
            name=str(getattr(camera_object, "name", "")) or None,
        )
        if kwargs["projection"] not in PROJECTIONS:
            raise CameraError(f"camera {kwargs['name']!r}: projection {data.type!r} is not supported")
        if kwargs["projection"] == "PANO":
            kwargs.update(
                panorama_type=str(data.panorama_type),
                fisheye_fov=float(data.fisheye_fov),
                fisheye_lens_mm=float(data.fisheye_lens),
                latitude_min=float(data.latitude_min),
                latitude_max=float(data.latitude_max),
                longitude_min=float(data.longitude_min),
                longitude_max=float(data.longitude_max),
            )
        return cls(**kwargs)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``cam2world`` as 4 row lists); :meth:`from_dict` inverts it."""
        d = asdict(self)
        d["cam2world"] = self.cam2world.tolist()
        return {"format": DICT_FORMAT, "version": DICT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> CameraModel:
        """Rebuild a camera from :meth:`to_dict` output (e.g. a JSON sidecar); unknown keys are an error.

        A sidecar's ``capture`` block (what the render wrote, read by
        :func:`..frame_files.read_sidecar`) is not part of the camera and is ignored here.
        """
        if not isinstance(d, dict):
            raise CameraError(f"camera description must be a dict, got {type(d).__name__}")
        d = dict(d)
        d.pop("capture", None)
        fmt, version = d.pop("format", DICT_FORMAT), d.pop("version", DICT_VERSION)
        if fmt != DICT_FORMAT or version != DICT_VERSION:
            raise CameraError(f"not a {DICT_FORMAT} v{DICT_VERSION} camera description "
                              f"(format={fmt!r}, version={version!r})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CameraError(f"unknown camera field(s): {', '.join(unknown)}")
        for required in ("width_px", "height_px", "projection", "cam2world"):
            if required not in d:
                raise CameraError(f"camera description lacks {required!r}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise CameraError(f"invalid camera description: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> CameraModel:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CameraError(f"camera JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(d)

    def replace(self, **changes) -> CameraModel:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return type(self)(**d)

    def __eq__(self, other):
        if not isinstance(other, CameraModel):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) if f.name == "cam2world"
            else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )

    __hash__ = None

    # -- derived quantities -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """(height_px, width_px): the shape of this camera's depth map."""
        return self.height_px, self.width_px

    @property
    def world2cam(self) -> np.ndarray:
        r = self.cam2world[:3, :3]
        inv = np.eye(4)
        inv[:3, :3] = np.linalg.inv(r)
        inv[:3, 3] = -inv[:3, :3] @ self.cam2world[:3, 3]
        return inv

    @property
    def pixel_aspect_ratio(self) -> float:
        """Blender's ``ycor``: pixel_aspect_y / pixel_aspect_x."""
        return self.pixel_aspect_y / self.pixel_aspect_x

    def effective_sensor_fit(self) -> str:
        """HORIZONTAL or VERTICAL: AUTO fits the sensor to the larger side of the (aspect-corrected) image."""
        if self.sensor_fit != "AUTO":
            return self.sensor_fit
        wide = self.width_px * self.pixel_aspect_x >= self.height_px * self.pixel_aspect_y
        return "HORIZONTAL" if wide else "VERTICAL"

    def _viewfac(self) -> float:
        """Blender's ``viewfac``: the image extent, in x-pixel units, that the sensor (or ortho_scale) spans."""
        if self.effective_sensor_fit() == "HORIZONTAL":
            return float(self.width_px)
        return self.pixel_aspect_ratio * self.height_px

    def sensor_size_mm(self) -> float:
        """The sensor dimension that the fit uses: sensor_height for VERTICAL, sensor_width otherwise (AUTO too)."""
        return self.sensor_height_mm if self.sensor_fit == "VERTICAL" else self.sensor_width_mm

    def intrinsics_px(self) -> tuple[float, float, float, float]:
        """``(fx, fy, cx, cy)`` of a perspective or orthographic camera, pixel centres at +0.5.

        Perspective: a camera-frame point ``(X, Y, Z)`` (Z < 0) lands at
        ``x = cx + fx * X / -Z``, ``y = cy - fy * Y / -Z``.
        Orthographic: ``x = cx + fx * X``, ``y = cy - fy * Y`` (fx, fy in pixels per metre).
        This is Blender's viewplane: with ``viewfac`` the fitted image extent in pixels,
        ``fx = viewfac * lens / sensor`` (or ``viewfac / ortho_scale``), ``fy = fx * aspect_x / aspect_y``,
        ``cx = W/2 - shift_x * viewfac``, ``cy = H/2 + shift_y * viewfac * aspect_x / aspect_y``.
        For OpenCV's integer-centre convention subtract 0.5 from cx and cy.
        """
        if self.projection == "PANO":
            raise CameraError("a panoramic camera has no pinhole intrinsics")
        viewfac = self._viewfac()
        if self.projection == "PERSP":
            fx = viewfac * self.lens_mm / self.sensor_size_mm()
        else:
            fx = viewfac / self.ortho_scale
        ycor = self.pixel_aspect_ratio
        fy = fx / ycor
        cx = 0.5 * self.width_px - self.shift_x * viewfac
        cy = 0.5 * self.height_px + self.shift_y * viewfac / ycor
        return fx, fy, cx, cy

    def natural_depth_kind(self) -> str:
        """The depth kind Cycles writes for this camera: "planar" (persp/ortho) or "distance" (panoramic)."""
        return "distance" if self.projection == "PANO" else "planar"

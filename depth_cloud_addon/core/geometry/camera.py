"""The camera model: everything needed to map pixels to rays and back for one rendered frame.

Conventions (the full page is ``docs/conventions.md``):

* Image: ``width_px`` x ``height_px`` pixels *after* the resolution percentage, and after the crop
  to the render region when Render Region and Crop to Border are both on (the size of the image
  Blender writes). Continuous pixel coordinates ``(x, y)``: x to the right, y down, origin at the
  top-left corner of the image, so pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)`` and
  its centre is ``(col + 0.5, row + 0.5)``. Image rows run top-down (EXR row 0 is the top row). A
  cropped image's pixel ``(col, row)`` is pixel ``(col + crop_x0_px, row + crop_y0_px)`` of the full
  render (see :class:`CameraModel`).
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
import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast

import numpy as np

from ..errors import CameraError

#: Camera projections, as Blender names them in ``Camera.type``.
PROJECTIONS = ("PERSP", "ORTHO", "PANO")
#: Panoramic models this library maps exactly (the ones Cycles renders and we test).
PANORAMA_TYPES = ("EQUIRECTANGULAR", "FISHEYE_EQUIDISTANT", "FISHEYE_EQUISOLID")
SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")

#: Blender camera axes (x right, y up, -z forward) -> OpenCV camera axes (x right, y down, z forward).
BLENDER_TO_OPENCV_AXES = np.diag([1.0, -1.0, -1.0, 1.0])

DICT_FORMAT = "depth_cloud.camera"
DICT_VERSION = 1
#: The fields of the crop window (Render Region with Crop to Border), written to dicts only when cropped.
_CROP_FIELDS = ("full_width_px", "full_height_px", "crop_x0_px", "crop_y0_px")


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


def finite_number(value) -> float | None:
    """``value`` as a finite float when it is a real number (not a boolean), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def _whole(value) -> int | None:
    """``value`` as an int when it is a whole number (an integer, or a float without a fraction; not a boolean),
    else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    number = finite_number(value)
    return int(number) if number is not None and number.is_integer() else None


def _check_matrix_values(matrix) -> None:
    """A camera matrix given as nested lists (a sidecar's JSON) or an array must hold numbers, not booleans or
    text (numpy would read ``true`` as 1)."""
    if isinstance(matrix, np.ndarray):
        if matrix.dtype.kind not in "fiu":
            raise CameraError(f"cam2world must be a finite 4x4 matrix of numbers, got an array of {matrix.dtype}")
        return
    rows = matrix if isinstance(matrix, (list, tuple)) else [matrix]
    for row in rows:
        for value in (row if isinstance(row, (list, tuple)) else [row]):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise CameraError(f"cam2world must be a finite 4x4 matrix of numbers, got {value!r} in it")


def render_size_px(resolution_x: int, resolution_y: int, percentage: int) -> tuple[int, int]:
    """Width and height in pixels of the rendered image, as Blender computes them (integer division)."""
    return (int(resolution_x) * int(percentage)) // 100, (int(resolution_y) * int(percentage)) // 100


def render_region_px(width_px: int, height_px: int, min_x: float, max_x: float, min_y: float,
                     max_y: float) -> tuple[int, int, int, int]:
    """The pixel window ``(x0, y0, width, height)`` that Render Region cuts from a ``width_px`` x ``height_px``
    render (the size after the resolution percentage); ``y0`` counts rows from the **top**.

    Blender's rule (``render_init_from_main``; Cycles' buffer window agrees), measured against the
    EXR sizes and pixels Blender 4.2, 4.5 and 5.0 write: each border value (0..1, ``min_y``/``max_y``
    measured from the *bottom*) is multiplied by the size in **float32** and truncated,
    ``xmin = int(f32(min_x) * W)``, ``xmax = int(f32(max_x) * W)``, same for y with H; the window is
    columns ``xmin..xmax-1`` and, top-down, rows ``H - ymax .. H - ymin - 1``. float32 matters:
    0.7 * 100 is 70 in float32 but 69.99999 in float64. Example: 64x48, x 0.13..0.71, y 0.21..0.93
    gives columns 8..44 and rows 4..37, a 37x34 image at (8, 4).
    Raises :class:`CameraError` for an empty window (Blender refuses to render it: "Image too small").
    """
    w, h = np.float32(int(width_px)), np.float32(int(height_px))
    xmin, xmax = int(np.float32(min_x) * w), int(np.float32(max_x) * w)
    ymin, ymax = int(np.float32(min_y) * h), int(np.float32(max_y) * h)
    if xmax <= xmin or ymax <= ymin:
        raise CameraError(
            f"the render region x {min_x:g}..{max_x:g}, y {min_y:g}..{max_y:g} of a {width_px}x{height_px} px "
            "render holds no pixel (Blender refuses to render it: 'Image too small')"
        )
    return xmin, int(height_px) - ymax, xmax - xmin, ymax - ymin


@dataclass(frozen=True)
class CameraModel:
    """One frame's camera: projection parameters, image size and pose.

    Lengths are in millimetres where Blender uses them (``lens_mm``, ``sensor_*_mm``), metres
    otherwise; angles in radians. Build it with :meth:`from_blender` inside Blender, or
    :meth:`from_dict` from a JSON sidecar.

    **Crop window.** With Render Region *and* Crop to Border on, Blender writes only the region:
    ``width_px`` x ``height_px`` (and :attr:`shape`) are the size of that written image, while
    ``full_width_px`` x ``full_height_px`` is the full render (after the resolution percentage) and
    ``(crop_x0_px, crop_y0_px)`` is where the written image's top-left pixel lies in it, rows counted
    from the top (Blender's border y is measured from the bottom; :func:`render_region_px` converts).
    Pixel ``(col, row)`` of the written image *is* pixel ``(col + crop_x0_px, row + crop_y0_px)`` of
    the full render: every mapping (:meth:`intrinsics_px`, the sensor fit, the panoramic mappings)
    works on the full image and shifts by the crop, so ``cx``, ``cy`` move by ``-crop_x0_px``,
    ``-crop_y0_px`` and ``fx``, ``fy`` stay. An image that is not cropped (no region, or a region
    without Crop to Border, whose pixels outside the region hold depth 1e11: background) has
    ``full_width_px = full_height_px = None`` and a crop origin of 0; :meth:`to_dict` then leaves the
    four fields out, so such sidecars are as before.

    Example::

        cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0)
        cam.intrinsics_px()   # (fx, fy, cx, cy) in the pixel-centre-at-+0.5 convention
        cam.crop(8, 4, 37, 34).intrinsics_px()   # the same fx, fy; cx - 8, cy - 4
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
    full_width_px: int | None = None   # the full render's size when this image is a crop of it, else None
    full_height_px: int | None = None
    crop_x0_px: int = 0                # column of the full render holding this image's column 0
    crop_y0_px: int = 0                # row of the full render (top-down) holding this image's row 0

    def __post_init__(self):
        _check_matrix_values(self.cam2world)
        object.__setattr__(self, "cam2world", _normalized_axes(self.cam2world))
        width_px, height_px = _whole(self.width_px), _whole(self.height_px)
        if width_px is None or height_px is None:
            raise CameraError(f"image size must be whole numbers, got {self.width_px!r}x{self.height_px!r}")
        if width_px < 1 or height_px < 1:
            raise CameraError(f"image size must be at least 1x1 px, got {width_px}x{height_px}")
        object.__setattr__(self, "width_px", width_px)
        object.__setattr__(self, "height_px", height_px)
        self._check_crop()
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
            value = finite_number(getattr(self, name))
            if value is None or not value > 0:
                raise CameraError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ("shift_x", "shift_y", "latitude_min", "latitude_max", "longitude_min", "longitude_max",
                     "clip_start", "clip_end"):
            if finite_number(getattr(self, name)) is None:
                raise CameraError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if self.frame is not None:
            frame = self.frame
            if (isinstance(frame, bool) or not isinstance(frame, (int, float))
                    or not math.isfinite(frame) or frame != int(frame)):
                raise CameraError(f"frame must be a whole number, got {self.frame!r}")
            object.__setattr__(self, "frame", int(self.frame))
        if self.name is not None and not isinstance(self.name, str):
            raise CameraError(f"name must be text, got {self.name!r}")
        if not (0 <= self.clip_start < self.clip_end):
            raise CameraError(f"need 0 <= clip_start < clip_end, got {self.clip_start} and {self.clip_end}")

    def _check_crop(self) -> None:
        """Validate the crop window and store it canonically (whole numbers; None/0 when not cropped)."""
        names = _CROP_FIELDS
        values = [getattr(self, name) for name in names]
        if values[0] is None and values[1] is None:
            values[0], values[1] = self.width_px, self.height_px
        elif values[0] is None or values[1] is None:
            raise CameraError("a crop window needs both full_width_px and full_height_px")
        full_w: int | None
        full_h: int | None
        whole = [_whole(v) for v in values]
        if any(v is None for v in whole):
            raise CameraError(f"the crop window must be whole numbers, got "
                              f"{', '.join(f'{n}={v!r}' for n, v in zip(names, values))}")
        full_w, full_h, x0, y0 = cast(list[int], whole)
        if not (0 <= x0 and x0 + self.width_px <= full_w and 0 <= y0 and y0 + self.height_px <= full_h):
            raise CameraError(f"the {self.width_px}x{self.height_px} px image at ({x0}, {y0}) does not lie inside "
                              f"the {full_w}x{full_h} px full render")
        if (full_w, full_h) == (self.width_px, self.height_px):
            full_w = full_h = None  # the whole image: not cropped (x0 = y0 = 0 here)
        for name, value in zip(names, (full_w, full_h, x0, y0)):
            object.__setattr__(self, name, value)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_blender(cls, camera_object, scene) -> CameraModel:
        """Read a Blender camera object and the scene's render settings at the current frame.

        Duck-typed: it reads attributes only (``camera_object.data``, ``camera_object.matrix_world``,
        ``scene.render``) and imports neither bpy nor mathutils. Evaluate the frame first
        (``scene.frame_set(n)``) so ``matrix_world`` and animated camera data are those of frame n.
        With Render Region and Crop to Border both on (``render.use_border``,
        ``render.use_crop_to_border``) the camera is cropped to the region (:func:`render_region_px`);
        a region without Crop to Border leaves the image (and the camera) full size.
        """
        data = getattr(camera_object, "data", None)
        if data is None or not hasattr(data, "lens"):
            name = getattr(camera_object, "name", camera_object)
            raise CameraError(f"object {name!r} is not a camera")
        render = scene.render
        width_px, height_px = render_size_px(render.resolution_x, render.resolution_y, render.resolution_percentage)
        crop = {}
        if getattr(render, "use_border", False) and getattr(render, "use_crop_to_border", False):
            x0, y0, crop_w, crop_h = render_region_px(width_px, height_px, render.border_min_x, render.border_max_x,
                                                      render.border_min_y, render.border_max_y)
            crop = dict(full_width_px=width_px, full_height_px=height_px, crop_x0_px=x0, crop_y0_px=y0)
            width_px, height_px = crop_w, crop_h
        kwargs: dict[str, Any] = dict(
            width_px=width_px,
            height_px=height_px,
            **crop,
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
        """A JSON-serialisable dict (``cam2world`` as 4 row lists); :meth:`from_dict` inverts it.

        The crop window's four fields are written only for a cropped camera, so the dict of an
        uncropped camera is what it was before they existed (and older readers still accept it).
        """
        d = asdict(self)
        d["cam2world"] = self.cam2world.tolist()
        if not self.is_cropped:
            for name in _CROP_FIELDS:
                del d[name]
        return {"format": DICT_FORMAT, "version": DICT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> CameraModel:
        """Rebuild a camera from :meth:`to_dict` output (e.g. a JSON sidecar); unknown keys are an error.

        Missing crop fields (every sidecar written before they existed) mean "not cropped". A
        sidecar's ``capture`` block (what the render wrote, read by :func:`..frame_files.read_sidecar`)
        is not part of the camera and is ignored here.
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

    # Unhashable: @dataclass(frozen=True) replaces any __hash__ here (a `__hash__ = None` included) with one over
    # the fields, and that raises TypeError on the cam2world array.

    # -- derived quantities -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """(height_px, width_px): the shape of this camera's depth map (the written, possibly cropped, image)."""
        return self.height_px, self.width_px

    @property
    def is_cropped(self) -> bool:
        """True when the image is a crop of a larger render (Render Region with Crop to Border)."""
        return self.full_width_px is not None

    @property
    def full_size_px(self) -> tuple[int, int]:
        """(width, height) of the full render the image is a crop of; ``(width_px, height_px)`` if not cropped."""
        if self.full_width_px is None:
            return self.width_px, self.height_px
        assert self.full_height_px is not None  # _check_crop sets both full sizes or neither
        return self.full_width_px, self.full_height_px

    def crop(self, x0_px: int, y0_px: int, width_px: int, height_px: int) -> CameraModel:
        """This camera cropped to ``width_px`` x ``height_px`` pixels at ``(x0_px, y0_px)`` of the *full* render
        (rows from the top), as Crop to Border writes it; the window must lie inside the full render."""
        full_w, full_h = self.full_size_px
        return self.replace(width_px=width_px, height_px=height_px, full_width_px=full_w, full_height_px=full_h,
                            crop_x0_px=x0_px, crop_y0_px=y0_px)

    def uncropped(self) -> CameraModel:
        """The camera of the full render this image was cropped from (itself when not cropped)."""
        full_w, full_h = self.full_size_px
        return self.crop(0, 0, full_w, full_h)

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
        """HORIZONTAL or VERTICAL: AUTO fits the sensor to the larger side of the (aspect-corrected) full image."""
        if self.sensor_fit != "AUTO":
            return self.sensor_fit
        full_w, full_h = self.full_size_px
        wide = full_w * self.pixel_aspect_x >= full_h * self.pixel_aspect_y
        return "HORIZONTAL" if wide else "VERTICAL"

    def _viewfac(self) -> float:
        """Blender's ``viewfac``: the full image's extent, in x-pixel units, that the sensor (or ortho_scale) spans."""
        full_w, full_h = self.full_size_px
        if self.effective_sensor_fit() == "HORIZONTAL":
            return float(full_w)
        return self.pixel_aspect_ratio * full_h

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
        W, H and viewfac are those of the full render; a cropped image's principal point is moved by
        the crop origin: ``cx - crop_x0_px``, ``cy - crop_y0_px`` (pixels of the written image).
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
        full_w, full_h = self.full_size_px
        cx = (0.5 * full_w - self.crop_x0_px) - self.shift_x * viewfac
        cy = (0.5 * full_h - self.crop_y0_px) + self.shift_y * viewfac / ycor
        return fx, fy, cx, cy

    def natural_depth_kind(self) -> str:
        """The depth kind Cycles writes for this camera: "planar" (persp/ortho) or "distance" (panoramic)."""
        return "distance" if self.projection == "PANO" else "planar"

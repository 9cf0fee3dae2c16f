"""Panoramic camera models, as Cycles renders them (``intern/cycles/kernel/camera/projection.h``).

Cycles maps a pixel to normalised coordinates ``u = x / W + shift_x`` (left to right) and
``v = (H - y) / H + shift_y`` (bottom to top), turns ``(u, v)`` into a direction in its panorama
frame (forward +x, left +y, up +z) and rotates that into the Blender camera frame
(x right, y up, forward -Z): ``camera = (-d.y, d.z, -d.x)``. The closed forms below are those
directions written directly in the Blender camera frame. The Depth pass of a panoramic camera is
the ray *distance* from the camera centre.

* EQUIRECTANGULAR: ``lon = lon_min + u (lon_max - lon_min)``, ``lat = lat_min + v (lat_max - lat_min)``,
  ``dir = (cos lat sin lon, sin lat, -cos lat cos lon)``.
* FISHEYE_EQUIDISTANT: ``a = 2u - 1``, ``b = 2v - 1`` (the image circle is stretched to the frame, as
  Cycles does), ``r = hypot(a, b) <= 1``, ``theta = r * fisheye_fov / 2``.
* FISHEYE_EQUISOLID: ``a = (u - 0.5) Sw``, ``b = (v - 0.5) Sh`` in millimetres on the sensor, with the
  sensor fitted to the image like a perspective camera's; ``r <= 2 f sin(fov / 4)``,
  ``theta = 2 asin(r / 2f)`` with ``f = fisheye_lens_mm``.
* Both fisheyes: ``dir = (a / r sin theta, b / r sin theta, -cos theta)``; pixels outside the image
  circle have no ray (NaN).

``W``, ``H`` and ``x``, ``y`` above are those of the full render. A cropped image (Render Region with
Crop to Border, see :class:`~depth_cloud_addon.core.geometry.camera.CameraModel`) is a window of it: its pixel
coordinates are moved by the crop origin first, ``x + crop_x0_px``, ``y + crop_y0_px``.
"""

from __future__ import annotations

import numpy as np

from .camera import CameraModel


def _equisolid_sensor_mm(camera: CameraModel) -> tuple[float, float]:
    """Sensor width and height (mm) Cycles uses for an equisolid fisheye (fitted to the full render's aspect)."""
    full_w, full_h = camera.full_size_px
    fit_x = full_w * camera.pixel_aspect_x
    fit_y = full_h * camera.pixel_aspect_y
    size = camera.sensor_size_mm()
    horizontal = camera.sensor_fit == "HORIZONTAL" or (camera.sensor_fit == "AUTO" and fit_x > fit_y)
    if horizontal:
        return size, size * fit_y / fit_x
    return size * fit_x / fit_y, size


def _uv(x, y, camera: CameraModel):
    """Cycles' normalised (u, v) of pixel coordinates of the (possibly cropped) image, over the full render."""
    full_w, full_h = camera.full_size_px
    x, y = x + camera.crop_x0_px, y + camera.crop_y0_px
    return x / full_w + camera.shift_x, (full_h - y) / full_h + camera.shift_y


def pixel_to_direction(x, y, camera: CameraModel) -> np.ndarray:
    """Unit ray directions (..., 3) in the Blender camera frame for pixel coordinates x, y (NaN: no ray)."""
    u, v = _uv(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), camera)
    kind = camera.panorama_type
    if kind == "EQUIRECTANGULAR":
        lon = camera.longitude_min + u * (camera.longitude_max - camera.longitude_min)
        lat = camera.latitude_min + v * (camera.latitude_max - camera.latitude_min)
        cos_lat = np.cos(lat)
        return np.stack([cos_lat * np.sin(lon), np.sin(lat), -cos_lat * np.cos(lon)], axis=-1)
    if kind == "FISHEYE_EQUIDISTANT":
        a, b = 2.0 * u - 1.0, 2.0 * v - 1.0
        r = np.hypot(a, b)
        inside = r <= 1.0
        theta = r * camera.fisheye_fov * 0.5
    else:  # FISHEYE_EQUISOLID
        sensor_w, sensor_h = _equisolid_sensor_mm(camera)
        a, b = (u - 0.5) * sensor_w, (v - 0.5) * sensor_h
        r = np.hypot(a, b)
        focal = camera.fisheye_lens_mm
        inside = r <= 2.0 * focal * np.sin(camera.fisheye_fov * 0.25)
        theta = 2.0 * np.arcsin(np.minimum(r / (2.0 * focal), 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_phi = np.where(r > 0, a / r, 1.0)
        sin_phi = np.where(r > 0, b / r, 0.0)
    sin_theta = np.sin(theta)
    directions = np.stack([cos_phi * sin_theta, sin_phi * sin_theta, -np.cos(theta)], axis=-1)
    directions[~inside] = np.nan
    return directions


def direction_to_pixel(points_cam, camera: CameraModel) -> np.ndarray:
    """Pixel coordinates (..., 2) of camera-frame points or directions (..., 3); NaN outside a fisheye's circle."""
    p = np.asarray(points_cam, dtype=np.float64)
    lx, ly, lz = p[..., 0], p[..., 1], p[..., 2]
    kind = camera.panorama_type
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "EQUIRECTANGULAR":
            lon = np.arctan2(lx, -lz)
            lat = np.arctan2(ly, np.hypot(lx, lz))
            u = (lon - camera.longitude_min) / (camera.longitude_max - camera.longitude_min)
            v = (lat - camera.latitude_min) / (camera.latitude_max - camera.latitude_min)
        else:
            side = np.hypot(lx, ly)
            theta = np.arctan2(side, -lz)
            cos_phi = np.where(side > 0, lx / side, 1.0)
            sin_phi = np.where(side > 0, ly / side, 0.0)
            outside = theta > camera.fisheye_fov * 0.5
            if kind == "FISHEYE_EQUIDISTANT":
                r = 2.0 * theta / camera.fisheye_fov
                u, v = 0.5 + 0.5 * r * cos_phi, 0.5 + 0.5 * r * sin_phi
            else:  # FISHEYE_EQUISOLID
                sensor_w, sensor_h = _equisolid_sensor_mm(camera)
                r = 2.0 * camera.fisheye_lens_mm * np.sin(theta * 0.5)
                u, v = 0.5 + r * cos_phi / sensor_w, 0.5 + r * sin_phi / sensor_h
            u = np.where(outside, np.nan, u)
            v = np.where(outside, np.nan, v)
        invalid = ~np.isfinite(p).all(axis=-1) | (np.linalg.norm(p, axis=-1) == 0)
    full_w, full_h = camera.full_size_px
    x = (u - camera.shift_x) * full_w - camera.crop_x0_px
    y = full_h * (1.0 - (v - camera.shift_y)) - camera.crop_y0_px
    out = np.stack([x, y], axis=-1)
    out[invalid] = np.nan
    return out

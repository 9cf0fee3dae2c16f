"""Write point clouds in the surveying formats: ASTM E57 (one scan per frame) and ASPRS LAS/LAZ.

Conventions, shared with the PLY writer (``docs/conventions.md``):

* **Axes and units.** Positions are in metres in Blender's world frame (right-handed, Z up), the frame
  E57 calls the file-level coordinate system and LAS stores as x, y, z. No geographic reference
  system is written (none is known).
* **Colours.** The linear (premultiplied, as Cycles writes them) RGB of the EXR, sRGB-encoded to 8 bits
  by :func:`.ply.linear_to_srgb8` (the project's one rule, the one PLY files use). E57 stores those
  8-bit values in ``colorRed``/``colorGreen``/``colorBlue`` with ``colorLimits`` 0..255; LAS stores
  16-bit values, the 8-bit value times 257 (255 -> 65535, the LAS convention). Alpha is not written.
* **Invalid points.** Rows with a non-finite coordinate are skipped; a scan or a file without any
  point is a :class:`.errors.NoValidDepthError`, and nothing is written for it.
* **Atomic files.** Every file is written under a temporary name in its folder and renamed when
  complete (:mod:`.atomic`): a failure, or a process killed mid-write, never leaves a partial file
  at the target.

**E57: a scan per frame, posed by its camera.** :class:`E57Writer` writes one ``data3D`` scan per
:meth:`~E57Writer.add` (a frame of a sequence). A scan's *pose* is the rigid transform from the
scan's own (local) frame to the file's frame, ``world = R @ local + t``, stored as a unit quaternion
``rotation`` (w, x, y, z; w >= 0) and a ``translation`` (x, y, z, metres). Here the local frame is the
frame's **camera frame in Blender's axes** (x right, y up, the camera looks down -Z), so ``R`` is the
rotation of the camera's ``cam2world`` with the scale removed (Blender's ``matrix_world``, as the
renderer uses it) and ``t`` is the camera's position. As the standard requires, the points of a scan
(``cartesianX/Y/Z``, float64) are in that local frame: a reader that applies the pose, as the standard
intends (``pye57``'s ``read_scan`` and the ``e57`` crate do; tested), gets the world positions back, and the
camera-frame coordinates are exact to float64 rounding (``local = R.T @ (world - t)`` with the ``R``
of the stored quaternion, so a reader's ``R @ local + t`` gives the world point to ~1e-12 m). A
mirrored camera (negative scale, no rotation can represent it) is posed by the nearest rotation; its
points still come back at their world positions. Each scan's ``cartesianBounds`` are in its local
frame, as the standard says.

**LAS/LAZ.** :func:`write_las` writes one file (a frame, or a fused cloud: the caller decides), LAS
1.2 with point data format 2 (x, y, z + 16-bit RGB; format 0 when there are no colours), the most
widely read combination: LAS 1.4's formats 7/8 add nothing this data has (GPS time, more classes,
more returns), and many readers and web viewers still expect 1.2 (a cloud of more than 2^32 - 1
points, which LAS 1.2 cannot count, is written as LAS 1.4 format 7/6). Coordinates are integers
times the scale plus the offset: the scale is :data:`LAS_SCALE` (0.1 mm; a coarser power of ten
only if the cloud spans more than the 32-bit integers can reach, 214 km at 0.1 mm) and the offset
the minimum of each axis rounded down to a whole metre, so each position is stored to within half
the scale. Every point is one return of one pulse (``return_number = number_of_returns = 1``). The
comments go in a "text area description" VLR. ``.laz`` is compressed with lazrs.

The readers' packages are optional dependencies (``pip install 'depth-cloud[survey]'``: pye57 for
E57, laspy and lazrs for LAS/LAZ), imported only when a file is written.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import numpy as np

from ..atomic import atomic_path, atomic_write, library_path
from ..errors import DepthCloudError, MissingPackageError, NoValidDepthError, cannot_write
from ..geometry.camera import _normalized_axes
from ..geometry.projection import rotation_to_quaternion
from .ply import linear_to_srgb8

__all__ = ["CHUNK_ROWS", "E57Writer", "LAS_SCALE", "e57_is_complete", "las_header", "las_is_complete",
           "pose_quaternion", "quaternion_matrix", "write_e57", "write_las"]

#: Rows converted and written at a time: a writer's extra memory is a few arrays of this many rows.
CHUNK_ROWS = 1 << 20
#: The LAS coordinate scale, metres per integer step (0.1 mm); coarser only for a cloud that needs it.
LAS_SCALE = 1e-4
_INSTALL = "pip install 'depth-cloud[survey]'"
_INT32_MAX = 2**31 - 1


def _require(module: str, what: str):
    """Import an optional reader/writer package, or say how to install it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise MissingPackageError(f"{what} needs {module}: {_INSTALL}", package=module, install=_INSTALL) from exc


def _finite(path, points, colors) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Validate ``points`` (N, 3) and ``colors`` (N, 3|4) or None; returns them, the finite-row mask
    (None when every row is finite) and the finite count."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3 or points.dtype.kind not in "fiu":
        raise DepthCloudError(f"{os.fspath(path)}: points must be an (N, 3) array of numbers, "
                              f"got shape {points.shape} of {points.dtype}")
    if colors is not None:
        colors = np.asarray(colors)
        if colors.ndim != 2 or colors.shape[0] != points.shape[0] or colors.shape[1] not in (3, 4):
            raise DepthCloudError(f"{os.fspath(path)}: colors must be an ({points.shape[0]}, 3 or 4) array, "
                                  f"got shape {colors.shape}")
    keep = None if bool(np.isfinite(points).all()) else np.isfinite(points).all(axis=1)
    count = points.shape[0] if keep is None else int(keep.sum())
    return points, colors, keep, count


def _chunks(points, colors, keep):
    """The finite rows as (float64 points, sRGB 8-bit RGB or None), :data:`CHUNK_ROWS` input rows at a time."""
    for start in range(0, points.shape[0], CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, points.shape[0])
        rows: slice | np.ndarray
        if keep is None:
            rows = slice(start, stop)
        else:
            rows = np.flatnonzero(keep[start:stop]) + start
            if rows.size == 0:
                continue
        xyz = points[rows].astype(np.float64)
        rgb = None if colors is None else linear_to_srgb8(colors[rows, :3])
        yield xyz, rgb


# -- poses -----------------------------------------------------------------------------------------


def quaternion_matrix(q) -> np.ndarray:
    """The 3x3 rotation matrix of a quaternion ``(w, x, y, z)`` (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def pose_quaternion(cam2world) -> tuple[np.ndarray, np.ndarray]:
    """The E57 pose of a camera: ``(rotation, translation)``, a unit quaternion ``(w, x, y, z)`` with
    ``w >= 0`` and the position, such that ``world = quaternion_matrix(rotation) @ camera + translation``
    for camera-frame points in Blender's axes (x right, y up, looking down -Z).

    ``cam2world`` (4x4) loses its scale first (as Blender's renderer does); the rotation is then the
    nearest proper rotation to it (itself, to rounding, for a camera that is not mirrored or sheared).
    """
    m = _normalized_axes(cam2world)
    u, _, vt = np.linalg.svd(m[:3, :3])
    if np.linalg.det(u @ vt) < 0:  # a mirrored camera: the nearest rotation flips the weakest axis
        u[:, -1] = -u[:, -1]
    q = rotation_to_quaternion(u @ vt)
    return q, m[:3, 3].copy()


# -- E57 -------------------------------------------------------------------------------------------


class E57Writer:
    """Write an E57 file one scan (frame) at a time; the file appears at ``path`` only on :meth:`close`.

    Use it as a context manager::

        with E57Writer("cloud.e57") as e57:
            for cloud in clouds:
                e57.add(cloud.points_world, cloud.colors, cloud.camera.cam2world, name=f"frame {frame}")

    Leaving the ``with`` block normally closes the file (renames it to ``path``); an exception aborts it
    (nothing at ``path``; an existing file there is left as it was). :meth:`add` checks its input before
    writing anything: when it raises (bad arrays, or :class:`NoValidDepthError` for a frame without a
    finite point) that frame is left out and the writer can go on; any other failure while writing
    aborts the whole file. :meth:`close` raises :class:`NoValidDepthError` (and writes nothing) when no
    scan was added. ``comments`` become each scan's ``description``. See the module docstring for the
    pose and the coordinates.
    """

    def __init__(self, path, *, comments=()):
        self.path = os.fspath(path)
        self.scans = 0
        self.points = 0
        self._description = "\n".join(["written by depth-cloud", *(str(c) for c in comments)])
        pye57 = _require("pye57", f"writing {self.path}")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))  # (created: a folder that refuses it is OSError)
            tmp = self._stack.enter_context(library_path(tmp))
            self._e57 = pye57.E57(tmp, mode="w")
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, Exception) and not isinstance(exc, (DepthCloudError, OSError)):  # libE57's own
                raise cannot_write(self.path, exc) from None
            raise

    def __enter__(self) -> E57Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc_type, exc, tb)

    def __del__(self):  # dropped without close(): nothing reaches ``path``
        with contextlib.suppress(Exception):
            if getattr(self, "_e57", None) is not None:
                self._abort(None, None, None)

    @property
    def closed(self) -> bool:
        return self._e57 is None

    def _abort(self, exc_type, exc, tb) -> None:
        if self._e57 is None:
            return
        e57, self._e57 = self._e57, None
        with contextlib.suppress(Exception):
            e57.image_file.cancel()  # closes and deletes the temporary file
        if exc is None:
            exc = DepthCloudError(f"{self.path}: writing aborted")
            exc_type, tb = type(exc), None
        self._stack.__exit__(exc_type, exc, tb)  # removes the temporary file, leaves ``path`` alone

    def close(self) -> None:
        """Finish the file and move it to ``path``; :class:`NoValidDepthError` (nothing written) if it has
        no scan. Closing twice does nothing."""
        if self._e57 is None:
            return
        if self.scans == 0:
            self._abort(None, None, None)
            raise NoValidDepthError(f"{self.path}: no point to write (no frame had a finite point)")
        try:
            self._e57.image_file.close()
        except BaseException as exc:
            self._abort(type(exc), exc, exc.__traceback__)
            raise
        self._e57 = None
        self._stack.close()  # renames the finished file to ``path``

    def add(self, points_world, colors, cam2world, name: str | None = None) -> int:
        """Add one scan: ``points_world`` (N, 3) world positions, ``colors`` (N, 3|4) linear (premultiplied)
        RGB(A) or None, ``cam2world`` the frame's camera (4x4, its pose), ``name`` the scan's name
        (default ``"scan K"``). Returns the number of points written (the finite rows)."""
        if self._e57 is None:
            raise DepthCloudError(f"{self.path}: the E57 writer is closed")
        points, colors, keep, count = _finite(self.path, points_world, colors)
        rotation, translation = pose_quaternion(cam2world)
        if count == 0:
            raise NoValidDepthError(f"{self.path}: scan {name or self.scans}: no point to write "
                                    "(none has finite coordinates: check the camera's values)")
        name = f"scan {self.scans}" if name is None else str(name)
        try:
            self._write_scan(points, colors, keep, count, rotation, translation, name)
        except BaseException as exc:  # a half-written scan: the file cannot be finished
            self._abort(type(exc), exc, exc.__traceback__)
            raise
        self.scans += 1
        self.points += count
        return count

    def _write_scan(self, points, colors, keep, count, rotation, translation, name) -> None:
        import pye57

        lib = pye57.libe57
        e57 = self._e57
        imf = e57.image_file
        scan = lib.StructureNode(imf)
        scan.set("guid", lib.StringNode(imf, f"{{{uuid.uuid4()}}}"))
        scan.set("name", lib.StringNode(imf, name))
        scan.set("description", lib.StringNode(imf, self._description))
        pose = lib.StructureNode(imf)
        quaternion = lib.StructureNode(imf)
        for key, value in zip("wxyz", rotation):
            quaternion.set(key, lib.FloatNode(imf, float(value)))
        offset = lib.StructureNode(imf)
        for key, value in zip("xyz", translation):
            offset.set(key, lib.FloatNode(imf, float(value)))
        pose.set("rotation", quaternion)
        pose.set("translation", offset)
        scan.set("pose", pose)
        fields = ["cartesianX", "cartesianY", "cartesianZ"]
        prototype = lib.StructureNode(imf)
        for field in fields:
            prototype.set(field, lib.FloatNode(imf, 0.0, lib.E57_DOUBLE))
        # Every point is valid (0); the field is there because readers ask for it (pye57's read_scan does).
        prototype.set("cartesianInvalidState", lib.IntegerNode(imf, 0, 0, 2))
        if colors is not None:
            limits = lib.StructureNode(imf)
            for channel in ("Red", "Green", "Blue"):
                field = f"color{channel}"
                prototype.set(field, lib.IntegerNode(imf, 0, 0, 255))
                fields.append(field)
                limits.set(f"{field}Minimum", lib.IntegerNode(imf, 0))
                limits.set(f"{field}Maximum", lib.IntegerNode(imf, 255))
            scan.set("colorLimits", limits)
        cloud = lib.CompressedVectorNode(imf, prototype, lib.VectorNode(imf, True))
        scan.set("points", cloud)
        e57.data3d.append(scan)
        capacity = min(CHUNK_ROWS, count)
        arrays, buffers = e57.make_buffers([*fields, "cartesianInvalidState"], capacity)
        arrays["cartesianInvalidState"][:] = 0
        r = quaternion_matrix(rotation)
        low, high = np.full(3, np.inf), np.full(3, -np.inf)
        writer = cloud.writer(buffers)
        for xyz, rgb in _chunks(points, colors, keep):
            local = (xyz - translation) @ r  # R.T @ (world - t), row by row
            low, high = np.minimum(low, local.min(axis=0)), np.maximum(high, local.max(axis=0))
            for start in range(0, len(local), capacity):
                part = slice(start, min(start + capacity, len(local)))
                n = part.stop - part.start
                for k, field in enumerate(fields[:3]):
                    arrays[field][:n] = local[part, k]
                if rgb is not None:
                    for k, field in enumerate(fields[3:]):
                        arrays[field][:n] = rgb[part, k]
                writer.write(n)
        writer.close()
        bounds = lib.StructureNode(imf)
        for k, axis in enumerate("xyz"):
            bounds.set(f"{axis}Minimum", lib.FloatNode(imf, float(low[k])))
            bounds.set(f"{axis}Maximum", lib.FloatNode(imf, float(high[k])))
        scan.set("cartesianBounds", bounds)


def write_e57(path, scans, *, comments=()) -> int:
    """Write ``scans``, an iterable of ``(points_world, colors, cam2world, name)``, as one E57 file (see
    :class:`E57Writer`); scans without a finite point are left out. Returns the number of points."""
    with E57Writer(path, comments=comments) as e57:
        for points, colors, cam2world, name in scans:
            with contextlib.suppress(NoValidDepthError):
                e57.add(points, colors, cam2world, name)
    return e57.points


# -- LAS / LAZ -------------------------------------------------------------------------------------


def _las_scale_offset(low: np.ndarray, high: np.ndarray, scale: float) -> tuple[float, np.ndarray]:
    """The offset (minimum rounded down to a metre) and the finest scale, ``scale`` times a power of ten,
    whose 32-bit integers reach the maximum from it."""
    offset = np.floor(low)
    span = float(np.max(high - offset))
    while span / scale > _INT32_MAX - 1:
        scale *= 10.0
    return scale, offset


def write_las(path, points_world, colors, *, comments=(), scale: float = LAS_SCALE) -> int:
    """Write ``points_world`` (N, 3, metres) with ``colors`` (N, 3|4) linear (premultiplied) RGB(A) or None
    as LAS (``.las``) or LAZ (``.laz``, compressed with lazrs), atomically; see the module docstring.

    Rows with a non-finite coordinate are skipped. Returns the number of points written; raises
    :class:`NoValidDepthError` (writing nothing) when there is none.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".las", ".laz"):
        raise DepthCloudError(f"{path}: a LAS file's name ends in .las or .laz")
    points, colors, keep, count = _finite(path, points_world, colors)
    if count == 0:
        raise NoValidDepthError(f"{path}: no point to write (none has finite coordinates: check the camera's values)")
    laspy = _require("laspy", f"writing {path}")
    backend = None
    if extension == ".laz":
        backend = laspy.LazBackend.LazrsParallel
        if not backend.is_available():
            raise MissingPackageError(f"writing {path} needs lazrs: {_INSTALL}", package="lazrs", install=_INSTALL)
    rows = slice(None) if keep is None else keep
    low = np.array([np.min(points[rows, k]) for k in range(3)], dtype=np.float64)
    high = np.array([np.max(points[rows, k]) for k in range(3)], dtype=np.float64)
    scale, offset = _las_scale_offset(low, high, float(scale))
    small = count <= 0xFFFFFFFF
    point_format = (2 if small else 7) if colors is not None else (0 if small else 6)
    header = laspy.LasHeader(point_format=point_format, version="1.2" if small else "1.4")
    header.scales = np.full(3, scale)
    header.offsets = offset
    header.generating_software = "depth-cloud"  # (the core does not import the package root: no cycle)
    text = "\n".join(["written by depth-cloud", *(str(c) for c in comments)])
    header.vlrs.append(laspy.VLR(user_id="LASF_Spec", record_id=3, description="Text area description",
                                 record_data=text.encode("utf-8")))
    with atomic_write(path) as f:
        with laspy.open(f, mode="w", header=header, do_compress=backend is not None, laz_backend=backend,
                        closefd=False) as writer:
            for xyz, rgb in _chunks(points, colors, keep):
                record = laspy.ScaleAwarePointRecord.zeros(len(xyz), header=writer.header)
                ints = np.rint((xyz - offset) / scale).astype(np.int32)
                record.X, record.Y, record.Z = ints[:, 0], ints[:, 1], ints[:, 2]
                record.return_number = np.ones(len(xyz), np.uint8)
                record.number_of_returns = np.ones(len(xyz), np.uint8)
                if rgb is not None:
                    wide = rgb.astype(np.uint16) * np.uint16(257)
                    record.red, record.green, record.blue = wide[:, 0], wide[:, 1], wide[:, 2]
                writer.write_points(record)
    return count


def _las_public_header(head: bytes) -> dict | None:
    """The fields of a LAS public header both readers use, from its first bytes ``head`` (up to 375); None when it
    is not a LAS header. ``count``: the legacy point count, or LAS 1.4's 64-bit one when that is 0."""
    import struct

    if len(head) < 227 or head[:4] != b"LASF":
        return None
    header_size, offset, records = struct.unpack_from("<HII", head, 94)
    record_length, count = struct.unpack_from("<HI", head, 105)
    version = (head[24], head[25])
    if version >= (1, 4) and len(head) >= 255:
        count = count or struct.unpack_from("<Q", head, 247)[0]
    return {"version": version, "header_size": header_size, "offset": offset, "records": records,
            "point_format": head[104], "record_length": record_length, "count": count}


def las_header(path) -> dict | None:
    """A LAS/LAZ file's public header and its text-area comments, parsed here (no laspy): ``version``, ``count``,
    ``point_format``, ``compressed``, ``scale``, ``offset``, ``min``, ``max``, ``comments``; None when it is not a
    LAS file. Reads the header and its records only. Never raises."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(375)
            public = _las_public_header(head)
            if public is None:
                return None
            comments: list[str] = []
            f.seek(public["header_size"])
            for _ in range(min(public["records"], 64)):
                record = f.read(54)
                if len(record) < 54:
                    break
                user, record_id, length = record[2:18].rstrip(b"\0"), *struct.unpack_from("<HH", record, 18)
                data = f.read(length)
                if user == b"LASF_Spec" and record_id == 3:
                    comments = data.decode("utf-8", "replace").rstrip("\0").splitlines()[1:]
        scale, origin = struct.unpack_from("<3d", head, 131), struct.unpack_from("<3d", head, 155)
        bounds = struct.unpack_from("<6d", head, 179)  # max x, min x, max y, min y, max z, min z
        major, minor = public["version"]
        return {"version": f"{major}.{minor}", "count": public["count"], "point_format": public["point_format"] & 0x3F,
                "compressed": bool(public["point_format"] & 0xC0), "scale": scale, "offset": origin,
                "min": bounds[1::2], "max": bounds[0::2], "comments": comments, "data_offset": public["offset"]}
    except (OSError, struct.error):
        return None


def las_comments(path) -> list[str]:
    """The comment lines of a LAS/LAZ file written by :func:`write_las` (empty when unreadable). Never raises."""
    header = las_header(path)
    return header["comments"] if header is not None else []


def las_is_complete(path) -> bool:
    """True if ``path`` is a LAS/LAZ file whose points are all there: for LAS, the file's size is the header's
    point data offset plus the point count times the record length (plus the extended records a LAS 1.4 header
    announces); for LAZ (compressed), every point decompresses (laspy + lazrs; False without them). Never raises."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(375)
            size = os.fstat(f.fileno()).st_size
        public = _las_public_header(head)
        if public is None or (public["version"] >= (1, 4) and len(head) < 375):
            return False
        count = public["count"]
        if public["point_format"] & 0xC0:  # compressed (LAZ): decompress every point
            import laspy

            with laspy.open(os.fspath(path)) as reader:
                read = sum(len(chunk) for chunk in reader.chunk_iterator(1 << 20))
            return read == reader.header.point_count == count
        end = public["offset"] + count * public["record_length"]
        if public["version"] >= (1, 4):
            start, records = struct.unpack_from("<QI", head, 235)
            return size >= end and (records == 0 or size > start >= end)
        return size == end
    except Exception:  # a truncated or foreign file, or no laspy/lazrs for a LAZ
        return False


def e57_is_complete(path, comment: str | None = None) -> bool:
    """True if ``path`` is an E57 file whose every scan reads to the end (libE57 checks each page's checksum),
    and (with ``comment``) whose scans' descriptions hold that line (e.g. the job). False without pye57. Never
    raises."""
    try:
        import pye57

        with library_path(path) as readable:
            e57 = pye57.E57(readable, mode="r")
        try:
            if e57.scan_count == 0:
                return False
            for index in range(e57.scan_count):
                header = e57.get_header(index)
                description = header.node["description"].value() if header.node.isDefined("description") else ""
                if comment is not None and comment not in description.splitlines():
                    return False
                e57.read_scan_raw(index)
        finally:
            e57.close()
        return True
    except Exception:  # truncated, corrupt or foreign, or no pye57
        return False


    return []

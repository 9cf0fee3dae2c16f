"""One frame -> its cloud arrays. Pure numpy (no bpy).

Shared by Build, the live sequence, Bake, the exports, the ground-truth operators and the CLI, so that
all of them make the same cloud from the same frame. A depth file is read as the kind it holds (the one rule,
:mod:`.depth`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from .._parallel import Later, parallel_chunks
from ..errors import DepthCloudError, NoValidDepthError, ResolutionMismatchError
from ..formats.exr import ExrChannels, ExrImage, image_windows, read_channels, read_exr
from ..geometry.camera import CameraModel
from ..geometry.normals import surface_discs
from ..geometry.projection import (
    PixelSet,
    ValidPoints,
    backproject_valid,
    covering_radius,
    resolve_depth_kind,
    unproject_depths,
    valid_depth_mask,
)
from .depth import read_frame_depth
from .files import CaptureInfo, FrameFiles, FrameInputs, frame_inputs, neighbour_files
from .passes import (
    EDGE_THRESHOLD,
    MOTION_ATTRIBUTES,
    MOTION_RIGID,
    MOTION_UNKNOWN,
    MOTION_VECTOR,
    OBJECT_ATTRIBUTES,
    FramePasses,
    check_attributes,
    crease_mask,
    decode_object_ids,
    edge_mask,
    from_passes,
    legend_of,
    missing_passes,
    murmur3_32,
    needs_next_frame,
    read_passes,
    rigid_motion,
    seen_in_next_frame,
    vector_motion,
)

__all__ = ["BuildOptions", "CloudArrays", "camera_facing_normals", "cloud_arrays", "frame_input_paths",
           "check_passes_window", "motion_frame_files", "read_cloud", "read_frame_passes", "stale_passes", "thin_cloud"]


@dataclass(frozen=True)
class BuildOptions:
    """What to make of a frame's pixels (every option of Build, sequences, Bake and ``convert``)."""

    stride: int = 1
    depth_range: tuple[float, float] | None = None
    depth_kind: str = "auto"
    space: str = "world"
    with_points: bool = True  # False for pixel faces, which need no points
    with_pixels: bool = True  # False: no rows, cols, depths (a Build of points without attributes needs none of them)
    view_layer: str | None = None    # multilayer render EXRs: the view layer to read (None: the first)
    view_layer_required: bool = True  # False: a file without that layer reads its first one instead
    attributes: tuple = ()            # point attributes to read (see :mod:`.passes`: object_index, normal, ...)
    drop_edges: bool = False          # leave out pixels that straddle a silhouette (:func:`.passes.edge_mask`)
    edge_threshold: float = EDGE_THRESHOLD
    discs: bool = False               # surface discs: ``CloudArrays.normals``, disc radii (:mod:`..geometry.normals`)

    def __post_init__(self):
        object.__setattr__(self, "attributes", check_attributes(self.attributes))


@dataclass(frozen=True)
class CloudArrays:
    """Valid pixels only, in row-major pixel order. ``points`` are in ``space`` ("world" or "camera":
    Blender's camera frame, x right, y up, -Z forward); :attr:`points_world` / :attr:`points_cam` name
    the frame."""

    points: np.ndarray     # (N, 3) float32, metres, in ``space``
    colors: np.ndarray     # (N, 4) float32, linear premultiplied RGBA (white if the frame has no color)
    radii: np.ndarray      # (N,) float32, metres: the radius of a round point that covers the (strided) pixel's
    #                        footprint: :func:`covering_radius` of it, footprint / sqrt(2), for a point (facing the
    #                        camera); for a disc (with ``normals``), the disc's radius that covers it on the surface
    rows: np.ndarray       # (N,) int32: the pixel each point comes from
    cols: np.ndarray       # (N,) int32
    depths: np.ndarray     # (N,) float32: the pixel's depth value (of ``depth_kind``)
    depth_kind: str        # "planar" or "distance" (resolved)
    stride: int            # every stride-th pixel was kept
    camera: CameraModel
    space: str
    warnings: tuple[str, ...] = ()  # why this cloud may be off: capture warnings, a contradicted depth kind
    view_layer: str | None = None   # the view layer the depth came from (the file's, or the capture's), if known
    attributes: dict = dataclasses.field(default_factory=dict)  # name -> (N,) or (N, 3) array, see :mod:`.passes`
    legend: dict | None = None      # object_id: the hash as 8 hex digits -> object name
    normals: np.ndarray | None = None  # discs (``BuildOptions.discs``): (N, 3) float32 unit surface normals in
    #                                    ``space``, towards the camera (:mod:`..geometry.normals`); else None
    disc_rotations: np.ndarray | None = None  # discs: (N, 4) quaternions (w, x, y, z) of the ellipses drawn in Blender
    disc_scales: np.ndarray | None = None     # discs: (N, 3) the ellipses' semi-axes (and cone height), metres

    @property
    def count(self) -> int:
        """How many points (valid pixels) the cloud holds."""
        return len(self.colors)

    @property
    def points_world(self) -> np.ndarray:
        if self.space == "world":
            return self.points
        return _transform(self.points, self.camera.cam2world)

    @property
    def points_cam(self) -> np.ndarray:
        if self.space == "camera":
            return self.points
        return _transform(self.points, self.camera.world2cam)

    def positions(self, origin=None, dtype=np.float64, chunk: int = 1 << 18) -> np.ndarray:
        """(N, 3) the points in ``space`` computed again from each pixel's depth and the camera in float64
        (:func:`.projection.unproject_depths`), minus ``origin`` (world space only: a point near where the points
        are, e.g. :func:`.export.auto_origin`), as ``dtype``. Far from the world origin, ``points`` (float32) are
        rounded (1/32 m at 500 km); these are not: float64 world positions for formats that store them (LAS,
        E57), or positions relative to an origin near them for float32 formats (PLY, NPZ, USD)."""
        offset = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
        if self.space != "world" and offset.any():
            raise ValueError("an origin applies to world-space clouds only")
        camera = self.camera
        rotation = camera.cam2world[:3, :3] if self.space == "world" else np.eye(3)
        translation = camera.cam2world[:3, 3] - offset if self.space == "world" else np.zeros(3)
        out = np.empty((len(self.rows), 3), dtype)

        def work(first: int, last: int) -> None:
            for start in range(first, last, chunk):
                stop = min(start + chunk, last)
                pixels = np.stack([self.cols[start:stop] + 0.5, self.rows[start:stop] + 0.5], axis=-1)
                cam = unproject_depths(pixels, self.depths[start:stop], camera, depth_kind=self.depth_kind,
                                       space="camera")
                out[start:stop] = cam @ rotation.T + translation

        parallel_chunks(len(self.rows), work)
        return out

    def take(self, name: str) -> np.ndarray:
        """The array ``name`` ("points", "colors", "radii", "rows", "cols", "depths", or a disc cloud's "normals",
        "disc_rotations", "disc_scales"); the cloud lets go of it (keeps an empty array of its dtype). A Build
        writes the mesh attribute by attribute from ``take``, so each array is freed once written and the peak
        memory stays below twice the cloud's size. Never take from a cloud that is cached or used again."""
        if name not in ("points", "colors", "radii", "rows", "cols", "depths") + _DISC_ARRAYS:
            raise ValueError(f"no array {name!r} to take")
        if name in _DISC_ARRAYS and getattr(self, name) is None:
            raise ValueError(f"this cloud has no {name} (build it with discs)")
        array = getattr(self, name)
        object.__setattr__(self, name, np.empty((0, *array.shape[1:]), array.dtype))
        return array

    @property
    def nbytes(self) -> int:
        """The memory the cloud's arrays hold (an array that is the front of a larger buffer, as ``colors``
        compacted in the colour file's own image, counts the whole buffer)."""
        discs = tuple(getattr(self, name) for name in _DISC_ARRAYS if getattr(self, name) is not None)
        return sum(_held_bytes(a) for a in (self.points, self.colors, self.radii, self.rows, self.cols, self.depths,
                                            *discs, *self.attributes.values()))


_DISC_ARRAYS = ("normals", "disc_rotations", "disc_scales")


def _held_bytes(array) -> int:
    array = np.asarray(array)
    base = array.base
    return max(array.nbytes, base.nbytes) if isinstance(base, np.ndarray) else array.nbytes


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, np.float64)
    return (points @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)


def cloud_arrays(depth: np.ndarray, color, camera: CameraModel, *, stride: int = 1,
                 depth_range: tuple[float, float] | None = None, depth_kind: str = "auto",
                 space: str = "world", with_points: bool = True, exclude: np.ndarray | None = None,
                 discs: bool = False, normal_pass: np.ndarray | None = None, with_pixels: bool = True) -> CloudArrays:
    """Back-project every ``stride``-th pixel (rows and columns) of a frame's (H, W) ``depth``.

    ``depth_range``: keep pixels whose depth value (of ``depth_kind``) lies in ``[near, far]``.
    ``color``: (H, W, 4), None, or a :class:`.._parallel.Later` of either (a colour file decoding in the
    background: taken once the points are made; its pixels gathered, it is let go of).
    ``with_points=False`` skips the points and radii (empty arrays): pixel faces need only the valid pixels and
    their depths. ``with_pixels=False`` leaves ``rows``, ``cols`` and ``depths`` empty (a Build of points needs
    none of them). ``exclude``: (H, W) bool, pixels to leave out (e.g. silhouette edges). ``discs``: also each
    point's disc (:func:`..geometry.normals.surface_discs`): its normal in ``normals`` (from ``normal_pass``, the
    (H, W, 3) world-space Normal pass, when given, else estimated), its radius in ``radii``, and the ellipse
    Blender draws in ``disc_rotations``, ``disc_scales``. Raises :class:`NoValidDepthError` when nothing is left.

    Memory: beyond the images, the result's arrays and, while they are made, one block of rows per core.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if isinstance(color, np.ndarray):
        _check_color_shape(color, depth)
    mask = None
    if depth_range is not None:
        near, far = depth_range
        with np.errstate(invalid="ignore"):
            mask = (depth >= near) & (depth <= far)
    if exclude is not None:
        mask = ~exclude if mask is None else mask & ~exclude
    pixels_needed = with_pixels or discs or not with_points
    if with_points:  # (the pixels off the stride are never looked at)
        valid = backproject_valid(depth, camera, depth_kind=depth_kind, space=space, mask=mask,
                                  with_pixels=pixels_needed, stride=stride)
    else:
        keep = valid_depth_mask(depth, camera, depth_kind=depth_kind, stride=stride)
        if mask is not None:
            keep &= mask[::stride, ::stride]
        found_pixels = PixelSet.of(keep, stride)
        rows, cols = found_pixels.rows_cols()
        valid = ValidPoints(np.zeros((0, 3), np.float32), rows, cols, np.zeros(0, np.float32), found_pixels)
    pixels = valid.pixels
    assert pixels is not None  # backproject_valid gives them
    if pixels.n == 0:
        raise NoValidDepthError("no pixel is left to build: every pixel is background, outside the clip range"
                                + (" or outside the depth range" if depth_range else "")
                                + (f" or skipped by stride {stride}" if stride > 1 else "")
                                + (" or on a silhouette edge" if exclude is not None else ""))
    points, rows, cols = valid.points, valid.rows, valid.cols
    depths = pixels.take(depth, np.float32) if pixels_needed else np.zeros(0, np.float32)
    kind = resolve_depth_kind(depth_kind, camera)
    found = None
    if discs and with_points:
        given = None
        if normal_pass is not None:
            given = pixels.take(normal_pass, np.float32)
            given /= np.linalg.norm(given, axis=1, keepdims=True)
            if space == "camera":  # in float64: numpy's float32 (N, 3) @ (3, 3) is a slow loop
                given = (given.astype(np.float64) @ np.asarray(camera.cam2world, np.float64)[:3, :3]).astype(np.float32)
        found = surface_discs(depths, rows, cols, camera, footprints=valid.footprint * stride,
                              depth_kind=kind, stride=stride, space=space, normals=given)
    if found is not None:
        radii = found.radii
    else:
        radii = valid.footprint  # the cloud's own array: scaled in place
        if stride > 1:
            radii *= np.float32(stride)
        radii = covering_radius(radii)
    del valid
    owned = isinstance(color, Later)  # a colour file decoded for this cloud (in the background, meanwhile)
    if owned:
        color = color.take()
        if color is not None:
            _check_color_shape(color, depth)
    if color is None:
        colors = np.ones((pixels.n, 4), np.float32)
    elif (owned and pixels.step == 1 and color.dtype == np.float32 and color.flags.c_contiguous
          and color.flags.writeable):
        colors = pixels.compact(color)  # its own buffer: no second colour-sized array
    else:
        colors = pixels.take(color, np.float32)
    del color
    cloud = CloudArrays(points, colors, radii, rows, cols, depths, kind, stride, camera, space)
    if found is not None:
        cloud = dataclasses.replace(cloud, normals=found.normals, disc_rotations=found.rotations,
                                    disc_scales=found.scales)
    return cloud


def _check_color_shape(color: np.ndarray, depth: np.ndarray) -> None:
    if color.shape[:2] != depth.shape:
        raise ResolutionMismatchError(
            f"color is {color.shape[1]}x{color.shape[0]} px but depth is {depth.shape[1]}x{depth.shape[0]} px"
        )


def read_cloud(inputs: FrameInputs, options: BuildOptions | None = None) -> CloudArrays:
    """The cloud of one frame: its depth EXR (its own color, or the color file's) seen by its camera.

    ``options.depth_kind`` "auto" is the file's kind by :func:`.depth.resolve_file_depth_kind`; a given kind that
    contradicts the file's record is used. The result's ``warnings`` hold everything that makes this cloud
    doubtful, for the user: that, and the frame's capture warnings (depth of field, motion blur).
    The EXR arrays are freed on return.
    """
    options = options or BuildOptions()
    files = inputs.files
    # The colour file decodes in the background while the depth is decoded and back-projected (a 1080p frame's
    # ZIP colour is most of its decode); its errors are raised where it is taken.
    color_file = (Later(lambda: read_exr(files.color_path, require_depth=False, keep_half=True).color)
                  if files.color_path is not None else None)
    channels = None
    stale = None
    if from_passes(options.attributes):
        stale = stale_passes(inputs)
        if stale is not None:  # no attribute from a file of another render
            options = dataclasses.replace(options, attributes=tuple(a for a in options.attributes
                                                                    if a not in from_passes(options.attributes)))
        elif inputs.files.passes_path is None:
            channels = read_channels(inputs.files.depth_path)  # the passes are in the depth file: decode it once
    image, kind = read_frame_depth(inputs, options.depth_kind, view_layer=options.view_layer,
                                   view_layer_required=options.view_layer_required, channels=channels)
    assert image.depth is not None  # read_exr's require_depth
    color = color_file if color_file is not None else image.color
    del color_file  # cloud_arrays takes it: the image is freed once its pixels are gathered
    normal_pass = None
    frame_passes = None  # read once: the discs' normals and the attributes
    notes: list[str] = []
    if options.discs and options.with_points and ("normal" in options.attributes or "NORMAL" in inputs.capture.passes):
        try:  # the captured Normal pass orients the discs
            path = inputs.files.passes_path or inputs.files.depth_path
            channels = channels if channels is not None and channels.holds(path) else read_channels(path)
            frame_passes = read_frame_passes(inputs, ("normal",), view_layer=image.view_layer, channels=channels)
            normal_pass = frame_passes.normal
        except DepthCloudError as exc:
            notes.append(f"the discs' normals are estimated from the depth: {exc}")
    edges = None
    if options.drop_edges or "edge" in options.attributes:
        color = color.take() if isinstance(color, Later) else color  # the edges need its alpha first
        alpha = np.asarray(color[..., 3], np.float32) if color is not None else None
        edges = edge_mask(image.depth, inputs.camera, alpha=alpha, depth_kind=kind.kind,
                          threshold=options.edge_threshold)
    cloud = cloud_arrays(image.depth, color, inputs.camera, stride=options.stride, depth_range=options.depth_range,
                         depth_kind=kind.kind, space=options.space, with_points=options.with_points,
                         exclude=edges if options.drop_edges else None, discs=options.discs,
                         normal_pass=normal_pass, with_pixels=options.with_pixels or bool(options.attributes))
    del normal_pass, color
    warnings = (tuple(inputs.warnings) + ((kind.warning,) if kind.warning else ()) + ((stale,) if stale else ())
                + tuple(notes))
    attributes: dict = {}
    legend: dict | None = None
    if options.attributes:
        attributes, legend, notes = _point_attributes(inputs, image, cloud, options, edges, channels, frame_passes)
        warnings += tuple(notes)
    return dataclasses.replace(cloud, warnings=warnings, view_layer=image.view_layer or inputs.capture.view_layer,
                               attributes=attributes, legend=legend)


def thin_cloud(cloud: CloudArrays, factor: int) -> CloudArrays:
    """``cloud`` with every ``factor``-th of its pixels only (rows and columns of the pixel grid): the cloud
    :func:`read_cloud` gives at stride ``cloud.stride * factor``, without reading the frame again (the
    radii grow with the stride, so the points still cover the image; discs keep their normals, their radii grow
    the same way). A sequence shows frames thinned
    while the timeline plays. Raises :class:`NoValidDepthError` when no pixel is left."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return cloud
    step = cloud.stride * factor
    keep = (cloud.rows % step == 0) & (cloud.cols % step == 0)
    if not keep.any():
        raise NoValidDepthError(f"no pixel is left to build: every pixel is skipped by stride {step}")

    def kept(array: np.ndarray) -> np.ndarray:
        return array[keep] if len(array) else array  # pixel faces carry no points or radii

    return dataclasses.replace(
        cloud, points=kept(cloud.points), colors=cloud.colors[keep], radii=kept(cloud.radii) * np.float32(factor),
        rows=cloud.rows[keep], cols=cloud.cols[keep], depths=cloud.depths[keep], stride=step,
        normals=None if cloud.normals is None else kept(cloud.normals),
        disc_rotations=None if cloud.disc_rotations is None else kept(cloud.disc_rotations),
        disc_scales=None if cloud.disc_scales is None else kept(cloud.disc_scales) * np.float32(factor),
        attributes={name: values[keep] for name, values in cloud.attributes.items()})


def read_frame_passes(inputs: FrameInputs, attributes, *, view_layer: str | None = None,
                      channels: ExrChannels | None = None, passes: FramePasses | None = None) -> FramePasses:
    """The passes a frame's ``attributes`` need: from ``passes_NNNN.exr`` beside its depth file, else from
    the depth file itself (a multilayer render EXR). :class:`DepthCloudError` (one line, naming the file,
    the missing passes and how to capture them) when some are missing. ``channels``: that file already
    decoded (:func:`.exr.read_channels`), if it was; ``passes``: the frame's passes already read by this function
    (for other attributes: only whether they hold these is checked)."""
    path = inputs.files.passes_path or inputs.files.depth_path
    if passes is None:
        if inputs.files.passes_path is not None:
            check_passes_window(inputs.files.passes_path, inputs.files.depth_path)
        if channels is None or not channels.holds(path):
            channels = read_channels(path)
        passes = read_passes(channels, view_layer=view_layer)
    if inputs.capture.objects:  # rigid motion needs the objects' placements only, not the Vector pass
        attributes = [a for a in attributes if a not in MOTION_ATTRIBUTES]
    missing = missing_passes(passes, attributes)
    if missing:
        raise DepthCloudError(f"{path}: no {', '.join(missing)} pass for the attribute(s) {', '.join(attributes)} "
                              "(capture it: Set Up EXR Outputs > Extra Passes)")
    return passes


#: The File Output nodes of one render write their files in any order, within milliseconds (measured: the passes
#: file up to 0.4 ms before the depth file on Blender 4.2, 1.1 ms on 5.0): a passes file older than its depth
#: file by less than this is of the same render.
SAME_RENDER_NS = 1_000_000_000


def stale_passes(inputs: FrameInputs) -> str | None:
    """Why the frame's ``passes_NNNN.exr`` is not of the render that wrote its depth (a warning: its attributes are
    not read), or None when it is (or there is none). It belongs to the frame when the sidecar's capture block
    records the passes written for the frame (``capture.passes``); without a capture block, when it is no older
    than the depth file (by more than :data:`SAME_RENDER_NS`: one render writes them in any order). A file left
    beside the frame after it was rendered again without Extra Passes is stale."""
    path = inputs.files.passes_path
    if path is None:
        return None
    name = os.path.basename(path)
    if inputs.capture != CaptureInfo():  # the sidecar records what this render wrote
        if inputs.capture.passes:
            return None
        sidecar = os.path.basename(inputs.files.camera_path or "the sidecar")
        return (f"{name} is not of this render: {sidecar} records no Extra Passes for the frame (a file left from an "
                "earlier render): no attribute read from it")
    try:
        older = os.stat(path).st_mtime_ns < os.stat(inputs.files.depth_path).st_mtime_ns - SAME_RENDER_NS
    except OSError:
        return None  # reading it says what is wrong
    if older:
        return (f"{name} is older than {os.path.basename(inputs.files.depth_path)} and no sidecar records the frame's "
                "passes (a file left from an earlier render): no attribute read from it")
    return None


def check_passes_window(passes_path: str, depth_path: str) -> None:
    """Raise :class:`DepthCloudError` (one line naming the passes file) unless every part of ``passes_path`` has
    the data and display windows of ``depth_path``'s image: passes of another size (or crop) are another frame's."""
    depth = image_windows(depth_path)[0]
    for data, display in image_windows(passes_path):
        if (data, display) != depth:
            def size(window) -> str:
                x0, y0, w, h = window[0]
                return f"{w}x{h} px" + (f" at ({x0}, {y0})" if (x0, y0) != (0, 0) else "") + \
                    ("" if window[0] == window[1] else f" in a {window[1][2]}x{window[1][3]} px display window")
            raise DepthCloudError(f"{passes_path}: {size((data, display))} but the depth file "
                                  f"{os.path.basename(depth_path)} is {size(depth)}: not this frame's passes file "
                                  "(render the frame again)")


def _point_attributes(inputs: FrameInputs, image: ExrImage, cloud: CloudArrays, options: BuildOptions,
                      edges, channels: ExrChannels | None = None, frame_passes: FramePasses | None = None
                      ) -> tuple[dict, dict | None, list[str]]:
    """The attributes ``options`` ask for, of the cloud's points; the legend; notes for the user."""
    wanted = options.attributes
    rows, cols = cloud.rows, cloud.cols
    out, legend, notes = {}, None, []
    passes = None
    if from_passes(wanted):
        passes = read_frame_passes(inputs, from_passes(wanted), view_layer=image.view_layer,
                                   channels=channels, passes=frame_passes)
        assert image.depth is not None  # read_exr's require_depth
        depth_shape = image.depth.shape
        shapes = {a.shape[:2] for a in (passes.object_index, passes.material_index, passes.normal, passes.vector,
                                        *(x for rank in passes.crypto_ranks for x in rank)) if a is not None}
        if shapes - {depth_shape}:  # (a window check passed: a layer of another size inside the file)
            h, w = next(iter(shapes - {depth_shape}))
            raise DepthCloudError(f"{passes.path}: a pass of {w}x{h} px but the depth is {depth_shape[1]}x"
                                  f"{depth_shape[0]} px: not this frame's passes")
    to_space = np.eye(4) if cloud.space == "world" else cloud.camera.world2cam
    # passes is read whenever wanted holds a pass's attribute, and read_frame_passes checked that it has the pass.
    if "object_index" in wanted:
        assert passes is not None and passes.object_index is not None
        out["object_index"] = np.rint(passes.object_index[rows, cols]).astype(np.int32)
    if "material_pass_index" in wanted:
        assert passes is not None and passes.material_index is not None
        out["material_pass_index"] = np.rint(passes.material_index[rows, cols]).astype(np.int32)
    ids = None
    if passes is not None and passes.crypto_ranks and (set(OBJECT_ATTRIBUTES) & set(wanted)):
        ids = decode_object_ids(passes.crypto_ranks, passes.manifest)  # the whole image, then one gather
        ids = ids.reshape(-1) if len(rows) == ids.size else ids[rows, cols]
    if "object_id" in wanted:
        assert passes is not None
        out["object_id"] = ids
        manifest = passes.manifest or {o["name"]: murmur3_32(o["name"]) for o in inputs.capture.objects}
        legend = legend_of(manifest)
    if "normal" in wanted:
        assert passes is not None and passes.normal is not None
        normal = passes.normal[rows, cols].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        out["normal"] = (normal @ to_space[:3, :3].T).astype(np.float32)
    if needs_next_frame(wanted):
        assert passes is not None
        motion, source, why = _motion(inputs, cloud, passes, ids, image.view_layer)
        out["motion"] = (motion.astype(np.float64) @ to_space[:3, :3].T).astype(np.float32)
        out["motion_source"] = source
        notes += why
        if "motion" not in wanted:
            del out["motion"]
    if "edge" in wanted:
        out["edge"] = edges[rows, cols]
    if "crease" in wanted:
        assert passes is not None and passes.normal is not None  # the NORMAL pass is checked for
        out["crease"] = crease_mask(passes.normal)[rows, cols]
    return {a: out[a] for a in wanted}, legend, notes


def _object_transforms(objects, next_objects) -> tuple[dict[str, np.ndarray | None], list[str]]:
    """name -> the rigid map of world points from this frame to the next (``next @ inverse(this)``), or None
    when the object's motion is not known to be rigid (no next state, or its mesh changes, or not a mesh), or
    cannot be (a ``matrix_world`` that is not finite or is singular: an object scaled to 0 on an axis); and one note
    per such singular object."""
    following = {o["name"]: o for o in next_objects}
    out: dict[str, np.ndarray | None] = {}
    notes = []
    for obj in objects:
        nxt = obj.get("next") or following.get(obj["name"])
        geometry = obj.get("geometry")
        if nxt is None or geometry is None or nxt.get("geometry") != geometry:
            out[obj["name"]] = None
            continue
        this = np.asarray(obj["matrix_world"], np.float64)
        following_matrix = np.asarray(nxt["matrix_world"], np.float64)
        if not (_invertible(this) and np.isfinite(following_matrix).all()):
            out[obj["name"]] = None
            notes.append(f"object '{obj['name']}': its matrix_world is singular (scaled to 0 on an axis) or not "
                         "finite, so its rigid motion is unknown (NaN)")
            continue
        out[obj["name"]] = following_matrix @ np.linalg.inv(this)
    return out, notes


def _invertible(matrix: np.ndarray) -> bool:
    """A finite 4x4 affine matrix whose 3x3 part is not singular (relative to its own scale)."""
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        return False
    singular = np.linalg.svd(matrix[:3, :3], compute_uv=False)
    return bool(singular[-1] > 1e-9 * max(singular[0], 1e-300))


def motion_frame_files(files: FrameFiles, frame: int | None, attributes) -> FrameFiles | None:
    """The next frame's files that a frame's cloud also reads: the ``motion`` attributes need frame
    ``frame + 1`` (its sidecar and passes). None when they are not asked for or that frame has no depth
    file. Whatever caches or resumes a frame's cloud keys it on these files too."""
    if frame is None or not needs_next_frame(attributes):
        return None
    return neighbour_files(files, frame)


def frame_input_paths(files: FrameFiles, frame: int | None, attributes=()) -> tuple[str, ...]:
    """Every file one frame's cloud may read: its depth file, colour file, camera sidecar and passes file, and with
    the motion attributes the next frame's depth file, sidecar and passes file (:func:`motion_frame_files`; ``frame``
    None: no next frame). An output must be none of them (:func:`.export.check_output`); a resumed output records
    them (:func:`.export.input_fingerprint`)."""
    paths = [files.depth_path, files.color_path, files.camera_path, files.passes_path]
    following = motion_frame_files(files, frame, attributes)
    if following is not None:
        paths += [following.depth_path, following.color_path, following.camera_path, following.passes_path]
    return tuple(dict.fromkeys(p for p in paths if p is not None))


def _motion(inputs: FrameInputs, cloud: CloudArrays, passes: FramePasses, ids, view_layer: str | None) -> tuple:
    """Per point: the displacement to the next frame (world), its source, and notes when some is unknown.
    ``view_layer``: the layer this frame's depth and passes came from (a render EXR's), read in the next frame too."""
    n = len(cloud.rows)
    frame = inputs.frame if inputs.frame is not None else inputs.camera.frame
    next_inputs = None
    following = neighbour_files(inputs.files, frame) if frame is not None else None
    unreadable = None
    if following is not None and following.camera_path is not None:
        assert frame is not None  # following is looked up for a known frame only
        try:
            next_inputs = frame_inputs(following, frame + 1)
        except DepthCloudError as exc:  # this frame is fine; only its Vector-pass motion is unknown
            unreadable = f"the next frame's sidecar cannot be read ({exc})"
    transforms, notes = _object_transforms(inputs.capture.objects, next_inputs.capture.objects if next_inputs else ())
    names = list(transforms)
    stack = np.stack([t if t is not None else np.full((4, 4), np.nan) for t in transforms.values()]) \
        if names else np.zeros((0, 4, 4))
    which = np.full(n, -1, np.int64)
    if ids is not None and names:  # Cryptomatte: the object by name
        by_hash = {np.uint32(murmur3_32(name)).view(np.int32).item(): k for k, name in enumerate(names)}
        if passes.manifest:
            by_hash.update({np.uint32(h).view(np.int32).item(): names.index(name)
                            for name, h in passes.manifest.items() if name in transforms})
        # A lookup in the few objects' hashes: no sort of the ids.
        known: np.ndarray = np.array(sorted(by_hash), np.int32)
        slot = np.clip(np.searchsorted(known, ids), 0, max(len(known) - 1, 0))
        found = known[slot] == ids if len(known) else np.zeros(len(ids), bool)
        which = np.where(found, np.array([by_hash[int(h)] for h in known], np.int64)[slot] if len(known) else -1, -1)
    elif passes.object_index is not None and names:  # the pass index, when it names one motion
        index = np.rint(passes.object_index[cloud.rows, cloud.cols]).astype(np.int64)
        for value in np.unique(index):
            same = [k for k, o in enumerate(inputs.capture.objects) if o.get("pass_index", 0) == value]
            maps = [stack[k] for k in same]
            if same and all(np.all(np.isfinite(m)) for m in maps) and all(np.array_equal(maps[0], m) for m in maps):
                which[index == value] = same[0]
    rigid = which >= 0
    rigid[rigid] = np.isfinite(stack[which[rigid], 0, 0])
    which[~rigid] = -1
    motion = rigid_motion(cloud.points_world, stack, which)
    source = np.where(rigid, MOTION_RIGID, MOTION_UNKNOWN).astype(np.int8)
    rest = ~rigid
    if rest.any():
        vector = passes.vector
        why = None
        if next_inputs is None:
            why = unreadable or "no next frame with a camera sidecar"
        elif vector is None or not np.isfinite(vector[..., 3]).any():
            why = "the Vector pass has no W (Blender 4.2 writes X, Y, Z only)"
        else:
            following_passes, next_channels = _next_passes(next_inputs, view_layer)
            if following_passes is None or following_passes.vector is None:
                why = ("the next frame has no Vector pass, so whether the points are still in view there cannot be "
                       "checked")
            else:
                # (the same view layer as the passes; a render EXR holding both is decoded once)
                next_image, next_kind = read_frame_depth(next_inputs, view_layer=view_layer,
                                                         view_layer_required=False, channels=next_channels)
                assert next_image.depth is not None  # read_exr's require_depth
                rows, cols = cloud.rows[rest], cloud.cols[rest]
                moved = vector_motion(cloud.points_world[rest], rows, cols, vector, next_image.depth,
                                      next_inputs.camera, next_kind.kind)
                next_ids = None
                if ids is not None and following_passes.crypto_ranks:
                    next_ids = decode_object_ids(following_passes.crypto_ranks, following_passes.manifest)
                seen = seen_in_next_frame(rows, cols, vector, following_passes.vector,
                                          ids=ids[rest] if next_ids is not None and ids is not None else None,
                                          next_ids=next_ids)
                moved[~seen] = np.nan  # an occluder's depth there is not the point's
                motion[rest] = moved
                sub = source[rest]
                sub[np.isfinite(moved).all(axis=1)] = MOTION_VECTOR
                source[rest] = sub
        unknown = int(np.count_nonzero(source == MOTION_UNKNOWN))
        if unknown:
            notes.append(f"motion unknown (NaN) for {unknown:,} of {n:,} points (motion_source 0): "
                         + (why or "their next position is outside the next frame or hidden in it"))
    return motion, source, notes


def _next_passes(next_inputs: FrameInputs, view_layer: str | None) -> tuple[FramePasses | None, ExrChannels | None]:
    """The next frame's passes (its Vector pass and Cryptomatte), from its passes file or its render EXR, and that
    file decoded; None, None when they cannot be read."""
    try:
        channels = read_channels(next_inputs.files.passes_path or next_inputs.files.depth_path)
        return read_passes(channels, view_layer=view_layer), channels
    except DepthCloudError:
        return None, None


def camera_facing_normals(cloud: CloudArrays, start: int = 0, stop: int | None = None) -> np.ndarray:
    """(N, 3) float32 unit normals towards the camera: the direction each pixel was seen from (the
    camera's +Z axis for orthographic cameras), in the cloud's ``space``; of rows ``start:stop`` only,
    when given (an exporter streams them)."""
    camera = cloud.camera
    points = cloud.points[start:stop]
    if camera.projection == "ORTHO":
        axis = camera.cam2world[:3, 2] if cloud.space == "world" else np.array([0.0, 0.0, 1.0])
        return np.broadcast_to(axis.astype(np.float32), points.shape)
    centre = camera.cam2world[:3, 3] if cloud.space == "world" else np.zeros(3)
    normals = (centre - points).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals

"""One frame -> its cloud arrays. Pure numpy (no bpy).

Shared by Build, the live sequence, Bake, the exports, the ground-truth operators and the CLI, so that
all of them make the same cloud from the same frame. A depth file is read as the kind it holds (the one rule,
:mod:`.depth`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import DepthCloudError, NoValidDepthError, ResolutionMismatchError
from ..formats.exr import ExrChannels, ExrImage, read_channels, read_exr
from ..geometry.camera import CameraModel
from ..geometry.normals import surface_discs
from ..geometry.projection import (
    ValidPoints,
    backproject_valid,
    covering_radius,
    resolve_depth_kind,
    valid_depth_mask,
    valid_pixels,
)
from .depth import read_frame_depth
from .files import FrameFiles, FrameInputs, frame_inputs, neighbour_files
from .passes import (
    EDGE_THRESHOLD,
    MOTION_ATTRIBUTES,
    MOTION_RIGID,
    MOTION_UNKNOWN,
    MOTION_VECTOR,
    OBJECT_ATTRIBUTES,
    FramePasses,
    check_attributes,
    decode_object_ids,
    edge_mask,
    from_passes,
    legend_of,
    missing_passes,
    murmur3_32,
    needs_next_frame,
    read_passes,
    rigid_motion,
    vector_motion,
)

__all__ = ["BuildOptions", "CloudArrays", "camera_facing_normals", "cloud_arrays", "motion_frame_files",
           "read_cloud", "read_frame_passes", "thin_cloud"]


@dataclass(frozen=True)
class BuildOptions:
    """What to make of a frame's pixels (every option of Build, sequences, Bake and ``convert``)."""

    stride: int = 1
    depth_range: tuple[float, float] | None = None
    depth_kind: str = "auto"
    space: str = "world"
    with_points: bool = True  # False for pixel faces, which need no points
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
    def points_world(self) -> np.ndarray:
        if self.space == "world":
            return self.points
        return _transform(self.points, self.camera.cam2world)

    @property
    def points_cam(self) -> np.ndarray:
        if self.space == "camera":
            return self.points
        return _transform(self.points, self.camera.world2cam)

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
        discs = tuple(getattr(self, name) for name in _DISC_ARRAYS if getattr(self, name) is not None)
        return sum(a.nbytes for a in (self.points, self.colors, self.radii, self.rows, self.cols, self.depths,
                                      *discs, *self.attributes.values()))


_DISC_ARRAYS = ("normals", "disc_rotations", "disc_scales")


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, np.float64)
    return (points @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)


def cloud_arrays(depth: np.ndarray, color: np.ndarray | None, camera: CameraModel, *, stride: int = 1,
                 depth_range: tuple[float, float] | None = None, depth_kind: str = "auto",
                 space: str = "world", with_points: bool = True, exclude: np.ndarray | None = None,
                 discs: bool = False, normal_pass: np.ndarray | None = None) -> CloudArrays:
    """Back-project every ``stride``-th pixel (rows and columns) of a frame's (H, W) ``depth``.

    ``depth_range``: keep pixels whose depth value (of ``depth_kind``) lies in ``[near, far]``.
    ``color``: (H, W, 4) or None. ``with_points=False`` skips the points and radii (empty arrays):
    pixel faces need only the valid pixels and their depths. ``exclude``: (H, W) bool, pixels to leave out
    (e.g. silhouette edges). ``discs``: also each point's disc (:func:`..geometry.normals.surface_discs`): its
    normal in ``normals`` (from ``normal_pass``, the (H, W, 3) world-space Normal pass, when given, else estimated),
    its radius in ``radii``, and the ellipse Blender draws in ``disc_rotations``, ``disc_scales``. Raises
    :class:`NoValidDepthError` when nothing is left.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if color is not None and color.shape[:2] != depth.shape:
        raise ResolutionMismatchError(
            f"color is {color.shape[1]}x{color.shape[0]} px but depth is {depth.shape[1]}x{depth.shape[0]} px"
        )
    mask = None
    if depth_range is not None:
        near, far = depth_range
        with np.errstate(invalid="ignore"):
            mask = (depth >= near) & (depth <= far)
    if exclude is not None:
        mask = ~exclude if mask is None else mask & ~exclude
    if stride > 1:
        strided = np.zeros(depth.shape, bool)
        strided[::stride, ::stride] = True
        mask = strided if mask is None else mask & strided
    if with_points:
        valid = backproject_valid(depth, camera, depth_kind=depth_kind, space=space, mask=mask)
    else:
        keep = valid_depth_mask(depth, camera, depth_kind=depth_kind)
        if mask is not None:
            keep &= mask
        rows, cols = valid_pixels(keep)
        valid = ValidPoints(np.zeros((0, 3), np.float32), rows, cols, np.zeros(0, np.float32))
    if valid.rows.size == 0:
        raise NoValidDepthError("no pixel is left to build: every pixel is background, outside the clip range"
                                + (" or outside the depth range" if depth_range else "")
                                + (f" or skipped by stride {stride}" if stride > 1 else "")
                                + (" or on a silhouette edge" if exclude is not None else ""))
    if valid.rows.size == depth.size:  # every pixel is valid: row-major views, no gathers
        colors = color.reshape(-1, 4) if color is not None else None
        depths = depth.reshape(-1).astype(np.float32, copy=False)
    else:
        colors = color[valid.rows, valid.cols] if color is not None else None
        depths = depth[valid.rows, valid.cols].astype(np.float32, copy=False)
    if colors is None:
        colors = np.ones((valid.rows.size, 4), np.float32)
    kind = resolve_depth_kind(depth_kind, camera)
    found = None
    if discs and with_points:
        given = None
        if normal_pass is not None:
            given = normal_pass[valid.rows, valid.cols].astype(np.float32)
            given /= np.linalg.norm(given, axis=1, keepdims=True)
            if space == "camera":  # in float64: numpy's float32 (N, 3) @ (3, 3) is a slow loop
                given = (given.astype(np.float64) @ np.asarray(camera.cam2world, np.float64)[:3, :3]).astype(np.float32)
        found = surface_discs(depths, valid.rows, valid.cols, camera, footprints=valid.footprint * stride,
                              depth_kind=kind, stride=stride, space=space, normals=given)
    cloud = CloudArrays(valid.points, colors.astype(np.float32, copy=False),
                        covering_radius(valid.footprint * np.float32(stride)) if found is None else found.radii,
                        valid.rows, valid.cols, depths, kind, stride, camera, space)
    if found is not None:
        cloud = dataclasses.replace(cloud, normals=found.normals, disc_rotations=found.rotations,
                                    disc_scales=found.scales)
    return cloud


def read_cloud(inputs: FrameInputs, options: BuildOptions | None = None) -> CloudArrays:
    """The cloud of one frame: its depth EXR (its own color, or the color file's) seen by its camera.

    ``options.depth_kind`` "auto" is the file's kind by :func:`.depth.resolve_file_depth_kind`; a given kind that
    contradicts the file's record is used. The result's ``warnings`` hold everything that makes this cloud
    doubtful, for the user: that, and the frame's capture warnings (depth of field, motion blur).
    The EXR arrays are freed on return.
    """
    options = options or BuildOptions()
    files = inputs.files
    channels = None
    if from_passes(options.attributes) and inputs.files.passes_path is None:
        channels = read_channels(inputs.files.depth_path)  # the passes are in the depth file: decode it once
    image, kind = read_frame_depth(inputs, options.depth_kind, view_layer=options.view_layer,
                                   view_layer_required=options.view_layer_required, channels=channels)
    assert image.depth is not None  # read_exr's require_depth
    color = image.color
    if files.color_path is not None:
        color = read_exr(files.color_path, require_depth=False).color
    normal_pass = None
    notes: list[str] = []
    if options.discs and options.with_points and ("normal" in options.attributes or "NORMAL" in inputs.capture.passes):
        try:  # the captured Normal pass orients the discs (decoded once: the attributes read the same channels)
            path = inputs.files.passes_path or inputs.files.depth_path
            channels = channels if channels is not None and channels.holds(path) else read_channels(path)
            normal_pass = read_frame_passes(inputs, ("normal",), view_layer=image.view_layer, channels=channels).normal
        except DepthCloudError as exc:
            notes.append(f"the discs' normals are estimated from the depth: {exc}")
    edges = None
    if options.drop_edges or "edge" in options.attributes:
        edges = edge_mask(image.depth, inputs.camera, alpha=color[..., 3] if color is not None else None,
                          depth_kind=kind.kind, threshold=options.edge_threshold)
    cloud = cloud_arrays(image.depth, color, inputs.camera, stride=options.stride, depth_range=options.depth_range,
                         depth_kind=kind.kind, space=options.space, with_points=options.with_points,
                         exclude=edges if options.drop_edges else None, discs=options.discs,
                         normal_pass=normal_pass)
    del normal_pass
    warnings = tuple(inputs.warnings) + ((kind.warning,) if kind.warning else ()) + tuple(notes)
    attributes: dict = {}
    legend: dict | None = None
    if options.attributes:
        attributes, legend, notes = _point_attributes(inputs, image, cloud, options, edges, channels)
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
                      channels: ExrChannels | None = None) -> FramePasses:
    """The passes a frame's ``attributes`` need: from ``passes_NNNN.exr`` beside its depth file, else from
    the depth file itself (a multilayer render EXR). :class:`DepthCloudError` (one line, naming the file,
    the missing passes and how to capture them) when some are missing. ``channels``: that file already
    decoded (:func:`.exr.read_channels`), if it was."""
    path = inputs.files.passes_path or inputs.files.depth_path
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


def _point_attributes(inputs: FrameInputs, image: ExrImage, cloud: CloudArrays, options: BuildOptions,
                      edges, channels: ExrChannels | None = None) -> tuple[dict, dict | None, list[str]]:
    """The attributes ``options`` ask for, of the cloud's points; the legend; notes for the user."""
    wanted = options.attributes
    rows, cols = cloud.rows, cloud.cols
    out, legend, notes = {}, None, []
    passes = None
    if from_passes(wanted):
        passes = read_frame_passes(inputs, from_passes(wanted), view_layer=image.view_layer,
                                   channels=channels)
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
        motion, source, why = _motion(inputs, cloud, passes, ids)
        out["motion"] = (motion.astype(np.float64) @ to_space[:3, :3].T).astype(np.float32)
        out["motion_source"] = source
        notes += why
        if "motion" not in wanted:
            del out["motion"]
    if "edge" in wanted:
        out["edge"] = edges[rows, cols]
    return {a: out[a] for a in wanted}, legend, notes


def _object_transforms(objects, next_objects) -> dict[str, np.ndarray | None]:
    """name -> the rigid map of world points from this frame to the next (``next @ inverse(this)``), or None
    when the object's motion is not known to be rigid (no next state, or its mesh changes, or not a mesh)."""
    following = {o["name"]: o for o in next_objects}
    out: dict[str, np.ndarray | None] = {}
    for obj in objects:
        nxt = obj.get("next") or following.get(obj["name"])
        geometry = obj.get("geometry")
        if nxt is None or geometry is None or nxt.get("geometry") != geometry:
            out[obj["name"]] = None
            continue
        this = np.asarray(obj["matrix_world"], np.float64)
        out[obj["name"]] = np.asarray(nxt["matrix_world"], np.float64) @ np.linalg.inv(this)
    return out


def motion_frame_files(files: FrameFiles, frame: int | None, attributes) -> FrameFiles | None:
    """The next frame's files that a frame's cloud also reads: the ``motion`` attributes need frame
    ``frame + 1`` (its sidecar and passes). None when they are not asked for or that frame has no depth
    file. Whatever caches or resumes a frame's cloud keys it on these files too."""
    if frame is None or not needs_next_frame(attributes):
        return None
    return neighbour_files(files, frame)


def _motion(inputs: FrameInputs, cloud: CloudArrays, passes: FramePasses, ids) -> tuple:
    """Per point: the displacement to the next frame (world), its source, and notes when some is unknown."""
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
    transforms = _object_transforms(inputs.capture.objects, next_inputs.capture.objects if next_inputs else ())
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
    notes = []
    rest = ~rigid
    if rest.any():
        vector = passes.vector
        if next_inputs is None:
            why = unreadable or "no next frame with a camera sidecar"
        elif vector is None or not np.isfinite(vector[..., 3]).any():
            why = "the Vector pass has no W (Blender 4.2 writes X, Y, Z only)"
        else:
            why = None
            next_image, next_kind = read_frame_depth(next_inputs)
            assert next_image.depth is not None  # read_exr's require_depth
            moved = vector_motion(cloud.points_world[rest], cloud.rows[rest], cloud.cols[rest], vector,
                                  next_image.depth, next_inputs.camera, next_kind.kind)
            motion[rest] = moved
            known = np.isfinite(moved).all(axis=1)
            sub = source[rest]
            sub[known] = MOTION_VECTOR
            source[rest] = sub
        if (source == MOTION_UNKNOWN).any():  # one text for every frame, so a sequence says it once
            notes.append("motion unknown (NaN) for some points (motion_source 0): "
                         + (why or "their next position is outside the next frame or hidden in it"))
    return motion, source, notes


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

"""Image sequences: a cloud object bound to a folder/pattern of frames, swapped in on every frame change.

The binding (source, options, last message) is stored on the object (``Object.depth_cloud_sequence``),
so it survives saving and re-opening the .blend; the handlers are persistent. Decoded frames are kept
in a memory-bounded LRU cache (limit in the add-on preferences), so scrubbing back and forth re-reads
nothing. The frame-change handler never raises into Blender: a missing or broken frame empties the
cloud for that frame and sets one message on the object (shown in the panel), printed once.

While a render runs, frame-change handlers run on the render thread; changing mesh data the viewport
draws is then only safe with Render > Lock Interface on, which Build turns on for sequences. Without
it, the handler leaves the data alone during renders (and says so).

Frames ahead are decoded in the background: after showing a frame, the handler queues the next
``PREFETCH_AHEAD`` frames (in the direction the timeline last moved) on a small thread pool, which
runs only :func:`read_cloud` on inputs resolved on the main thread (core arrays; never bpy data) and
puts the result into the cache (within its limit). A frame change takes a decoded frame from the cache;
a frame still queued is taken back and read on the spot; a frame being decoded is waited for (sooner
done than reading it again). A failed background read is forgotten: the frame is read again on the
spot, which reports the failure as usual. Frames without a sidecar are not read ahead (their camera is
the scene camera at that frame, known only once the frame is evaluated).

While the timeline plays (between Blender's animation playback handlers), a frame with more points
than the preference "Points While Playing" is shown thinned: every k-th pixel of rows and columns, the
points sized to match (:func:`..core.frames.cloud.thin_cloud`, the same as a Build at k times the stride), so
that 4K sequences play smoothly. Thinned frames are cached apart; a cached full frame is thinned
without reading it again. When playback stops, the current frame is shown in full again; renders,
scrubbing and stepping always show every point.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import bpy

from ..core import DepthCloudError
from ..core._parallel import one_thread
from ..core.frames.cache import FrameCache, default_cache_mb
from ..core.frames.cloud import BuildOptions, motion_frame_files, read_cloud, thin_cloud
from ..core.frames.files import files_signature
from ..core.frames.passes import EDGE_THRESHOLD
from . import builder, compat, frames
from .handlers import add_handlers, remove_handlers
from .options import build_options as options_of
from .options import store_build_options
from .preferences import PLAYBACK_POINTS, addon_preferences

CACHE = FrameCache()
_shown: dict[int, object] = {}  # object session_uid -> key of the frame its mesh holds now (None: empty)
_UNKNOWN = object()  # not in _shown: what the mesh holds is not known

PREFETCH_AHEAD = 3  # frames decoded ahead of the one shown
PREFETCH_WORKERS = max(1, min(2, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_pending: dict = {}  # cache key -> Future of its background decode (main thread only)
_last_frame: dict[int, int] = {}  # object session_uid -> frame shown last (the direction of play)
_playing = False  # the timeline is playing (Blender's animation_playback_pre ... _post)


def cache_limit_bytes() -> int:
    prefs = addon_preferences()
    return int((prefs.cache_mb if prefs is not None else default_cache_mb()) * 2**20)


class DepthCloudSequenceSettings(bpy.types.PropertyGroup):
    enabled: bpy.props.BoolProperty(name="Sequence", description="This cloud follows the timeline", default=False)
    source: bpy.props.StringProperty(
        name="Source", description="Output folder of the set-up, or a depth EXR pattern with # for the frame",
        subtype="FILE_PATH", options=compat.path_options())
    from_setup: bpy.props.BoolProperty(name="From Set-Up", description="Source is the set-up's output folder")
    stride: bpy.props.IntProperty(name="Stride", default=1, min=1)
    use_depth_range: bpy.props.BoolProperty(name="Limit Depth", default=False)
    depth_near: bpy.props.FloatProperty(name="Near", default=0.0, subtype="DISTANCE", unit="LENGTH")
    depth_far: bpy.props.FloatProperty(name="Far", default=100.0, subtype="DISTANCE", unit="LENGTH")
    depth_kind: bpy.props.StringProperty(name="Depth Kind", default="auto")
    geometry: bpy.props.StringProperty(name="Geometry", default="POINTS")
    surface_step: bpy.props.FloatProperty(name="Tear Above", default=0.05)
    view_layer: bpy.props.StringProperty(name="View Layer", description="Multilayer EXRs: the view layer read")
    view_layer_required: bpy.props.BoolProperty(name="Require View Layer", default=False)
    attributes: bpy.props.StringProperty(name="Attributes", description="Point attributes read, comma-separated")
    drop_edges: bpy.props.BoolProperty(name="Drop Edge Pixels", default=False)
    edge_threshold: bpy.props.FloatProperty(name="Edge Above", default=EDGE_THRESHOLD)
    message: bpy.props.StringProperty(name="Status", description="What the cloud shows, or why it is empty")


# Module functions, not methods: a PropertyGroup with methods makes bpy 4.2 crash when Python exits.
def build_options(settings) -> BuildOptions:
    return options_of(settings)  # (its geometry sets with_points and discs)


def source_path(settings) -> str:
    return bpy.path.abspath(settings.source)


def sequence_objects(scene):
    return [obj for obj in scene.objects if obj.type == "MESH" and obj.depth_cloud_sequence.enabled]


def playback_points() -> int:
    prefs = addon_preferences()
    return int(prefs.playback_points) if prefs is not None else PLAYBACK_POINTS


def playback_factor(camera, options: BuildOptions) -> int:
    """1, or while the timeline plays (not in a render) the smallest factor that thins a frame of ``camera``
    read with ``options`` to at most "Points While Playing" pixels (0 in the preferences: never thin)."""
    budget = playback_points()
    if not _playing or budget <= 0 or bpy.app.is_job_running("RENDER"):
        return 1
    factor = 1
    while -(-camera.width_px // (options.stride * factor)) * -(-camera.height_px // (options.stride * factor)) > budget:
        factor += 1
    return factor


def display_options(camera, options: BuildOptions) -> BuildOptions:
    """The options a frame of ``camera`` is shown with now: ``options``, at a larger stride while playing."""
    factor = playback_factor(camera, options)
    return options if factor == 1 else dataclasses.replace(options, stride=options.stride * factor)


def frame_key(inputs, options: BuildOptions) -> tuple:
    """The cache key of a frame's cloud: its inputs, the options, and the next frame's files when the
    options' motion attributes read them (so motion unknown before frame N+1 was rendered is read again)."""
    following = motion_frame_files(inputs.files, inputs.frame, options.attributes)
    return inputs.signature, options, files_signature(following) if following is not None else None


def _cached(key):
    """The cloud of ``key`` from the cache or its background decode; None if neither has it."""
    cloud = CACHE.get(key)
    if cloud is None and key in _pending:
        cloud = _collect(key)
    return cloud


def frame_cloud(scene, settings, frame: int, *, use_cache: bool = True, playing: bool = False):
    """``(inputs, cloud, cache key)`` of ``frame`` for a sequence binding, through the cache (and what the
    background decoding has read ahead). ``playing``: as shown now (thinned while the timeline plays;
    from the cached full frame when there is one)."""
    inputs = frames.frame_inputs(scene, source_path(settings), settings.from_setup, frame)
    full = build_options(settings)
    options = display_options(inputs.camera, full) if playing else full
    key = frame_key(inputs, options)
    cloud = _cached(key) if use_cache else None
    if cloud is None:
        whole = _cached(frame_key(inputs, full)) if use_cache and options is not full else None
        if whole is not None:
            cloud = thin_cloud(whole, options.stride // full.stride)
        else:
            cloud = read_cloud(inputs, options)
        if use_cache:
            CACHE.put(key, cloud, cache_limit_bytes())
    return inputs, cloud, key


# --- background decoding of the frames ahead -------------------------------------------------------

def _decode(key, inputs, options, limit_bytes: int) -> None:
    """Worker thread: one frame into the cache if it fits beside the frames there (never evicts them).
    Core arrays only: never touches bpy data."""
    with one_thread():  # the other worker and the main thread have the other cores
        cloud = read_cloud(inputs, options)
    CACHE.put(key, cloud, limit_bytes, evict=False)


def _collect(key):
    """The frame of ``key`` from its background decode: None if it was still queued (taken back), failed,
    or did not fit in the cache; waits for a decode under way."""
    future = _pending.pop(key)
    if future.cancel():
        return None
    try:
        future.result()
    except Exception:  # read again on the spot, which reports the failure as usual
        return None
    return CACHE.get(key)


def _prune() -> None:
    for key in [k for k, f in _pending.items() if f.done()]:
        del _pending[key]


def prefetch(obj, scene, frame: int) -> int:
    """Queue the background decoding of the frames after ``frame`` (before it when the timeline last
    stepped back) for ``obj``'s sequence; queued frames no longer ahead are dropped. Returns how many
    were queued. Never raises."""
    global _pool
    uid = obj.session_uid
    last, _last_frame[uid] = _last_frame.get(uid), frame
    direction = -1 if last is not None and 0 < last - frame <= PREFETCH_AHEAD else 1
    wanted, queued, full = set(), 0, None
    try:
        settings = obj.depth_cloud_sequence
        source, full = source_path(settings), build_options(settings)
        limit = cache_limit_bytes()
        _prune()
        shown = CACHE.get(_shown.get(uid))  # the size of a frame, to queue only what fits in the cache
        size = CACHE.size_of(shown) if shown is not None else 0
        for i in range(1, PREFETCH_AHEAD + 1):
            ahead = frame + direction * i
            if not scene.frame_start <= ahead <= scene.frame_end:
                break
            inputs = frames.frame_inputs(scene, source, settings.from_setup, ahead)
            if inputs.uses_fallback_camera:
                break
            options = display_options(inputs.camera, full)
            key = frame_key(inputs, options)
            wanted.add(key)
            if key in _pending or key in CACHE or frame_key(inputs, full) in CACHE:  # (a full frame is thinned)
                continue
            if CACHE.nbytes + size * (len(_pending) + 1) > limit:
                break
            if _pool is None:
                _pool = ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="depth-cloud-prefetch")
            _pending[key] = _pool.submit(_decode, key, inputs, options, limit)
            queued += 1
    except Exception:  # a missing or unreadable frame ahead: nothing more to read ahead now
        pass
    for key in [k for k in _pending if k not in wanted and full is not None and _same_binding(k[1], full)]:
        if _pending[key].cancel():  # still queued and no longer ahead
            del _pending[key]
    return queued


def _same_binding(options: BuildOptions, full: BuildOptions) -> bool:
    """Whether ``options`` are ``full``'s, or ``full``'s thinned (a key of the same sequence binding)."""
    return dataclasses.replace(options, stride=full.stride) == full and options.stride % full.stride == 0


def wait_prefetch() -> None:
    """Wait until every queued background decode is done (tests, benchmarks)."""
    for future in list(_pending.values()):
        try:
            future.result()
        except Exception:
            pass
    _prune()


def stop_prefetch() -> None:
    """Drop the queued decodes, let the running ones end, and forget the pool."""
    global _pool
    for future in _pending.values():
        future.cancel()
    _pending.clear()
    _last_frame.clear()
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _set_message(obj, text: str, *, problem: bool = False) -> None:
    """Show ``text`` in the panel; a problem is also printed, once until the message changes."""
    settings = obj.depth_cloud_sequence
    if settings.message != text:
        settings.message = text
        if problem:
            print(f"Depth Cloud: {obj.name}: {text}")


def show_frame(obj, scene, frame: int) -> bool:
    """Put ``frame``'s cloud into ``obj``'s mesh (empty it if the frame cannot be loaded); True if shown."""
    settings = obj.depth_cloud_sequence
    try:
        inputs, cloud, key = frame_cloud(scene, settings, frame, playing=True)
    except Exception as exc:  # any failure empties the cloud: never the previous frame's points under this one
        if _shown.get(obj.session_uid, _UNKNOWN) is not None:  # empty unless known to be empty already
            builder.clear_mesh(obj.data)
            _shown[obj.session_uid] = None
        reason = str(exc) if isinstance(exc, DepthCloudError) else f"{type(exc).__name__}: {exc}"
        _set_message(obj, f"frame {frame}: {reason}", problem=True)
        return False
    if _shown.get(obj.session_uid) != key:
        builder.write_cloud_mesh(obj.data, cloud, settings.geometry, settings.surface_step)
        builder.set_legend(obj, cloud.legend)
        _shown[obj.session_uid] = key
    note = " (no sidecar: scene camera)" if inputs.uses_fallback_camera else ""
    warnings = "".join(f"; {w}" for w in cloud.warnings)
    layer = f", view layer '{cloud.view_layer}'" if cloud.view_layer else ""
    thinned = cloud.stride // max(1, settings.stride)
    playing = f" (1 pixel in {thinned}x{thinned} while playing)" if thinned > 1 else ""
    _set_message(obj, f"frame {frame}: {cloud.count:,} points{playing}{layer}{note}{warnings}",
                 problem=bool(warnings))
    return True


def _rendering_unlocked(scene) -> bool:
    return bpy.app.is_job_running("RENDER") and not scene.render.use_lock_interface


@bpy.app.handlers.persistent
def on_frame_change(scene, *_args):
    """Swap in the current frame's cloud for every sequence object of ``scene``. Never raises."""
    try:
        objects = sequence_objects(scene)
        if objects and _rendering_unlocked(scene):
            for obj in objects:
                _set_message(obj, "not updated during this render: turn on Render > Lock Interface", problem=True)
            return
        for obj in objects:
            show_frame(obj, scene, scene.frame_current)
        for obj in objects:
            prefetch(obj, scene, scene.frame_current)
    except Exception as exc:  # a handler must never raise into Blender's frame change
        print(f"Depth Cloud: frame change failed: {type(exc).__name__}: {exc}")


@bpy.app.handlers.persistent
def on_playback_start(scene, *_args):
    """The timeline starts playing: frames with more points than "Points While Playing" show thinned."""
    global _playing
    _playing = True


@bpy.app.handlers.persistent
def on_playback_stop(scene, *_args):
    """Playback stopped: every sequence cloud shows its current frame in full again. Never raises."""
    global _playing
    _playing = False
    try:
        for obj in sequence_objects(scene):
            show_frame(obj, scene, scene.frame_current)
    except Exception as exc:  # a handler must never raise into Blender
        print(f"Depth Cloud: showing the full frame after playback failed: {type(exc).__name__}: {exc}")


@bpy.app.handlers.persistent
def on_load(*_args):
    """A file was opened: forget what the cache and the meshes held, then show the current frame."""
    global _playing
    _playing = False
    stop_prefetch()
    CACHE.clear()
    forget_shown()
    on_frame_change(bpy.context.scene)


HANDLERS = ((bpy.app.handlers.frame_change_post, on_frame_change), (bpy.app.handlers.load_post, on_load),
            (bpy.app.handlers.animation_playback_pre, on_playback_start),
            (bpy.app.handlers.animation_playback_post, on_playback_stop))


def forget_shown() -> None:
    """Forget which frame each cloud's mesh holds, so the next frame change rewrites every mesh (the
    frame cache is kept)."""
    _shown.clear()


def bind(obj, *, source: str, from_setup: bool, build: BuildOptions, geometry: str = "POINTS",
         surface_step: float = 0.05) -> None:
    """Make ``obj`` follow the timeline: store the binding on it."""
    settings = obj.depth_cloud_sequence
    settings.geometry, settings.surface_step = geometry, surface_step
    settings.enabled, settings.source, settings.from_setup = True, source, from_setup
    store_build_options(settings, build)
    _shown.pop(obj.session_uid, None)


def register():
    bpy.utils.register_class(DepthCloudSequenceSettings)
    bpy.types.Object.depth_cloud_sequence = bpy.props.PointerProperty(type=DepthCloudSequenceSettings)
    add_handlers(HANDLERS)


def unregister():
    global _playing
    remove_handlers(HANDLERS)
    _playing = False
    stop_prefetch()
    CACHE.clear()
    _shown.clear()
    del bpy.types.Object.depth_cloud_sequence
    bpy.utils.unregister_class(DepthCloudSequenceSettings)

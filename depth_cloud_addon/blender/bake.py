"""Bake a sequence: one object per frame with keyed visibility, or one fused world-space cloud.

A :class:`BakeJob` does one frame per :meth:`BakeJob.step`, so the modal operator can show progress
and stop on ESC (:meth:`finish` keeps what was done), and scripts can run it to the end at once.
Baked objects need no handler: they play in any Blender, on a render farm and in exported files.
"""

from __future__ import annotations

import bpy

from ..core.frames.cloud import BuildOptions, read_cloud
from ..core.frames.fusion import Fusion
from ..core.frames.loop import FrameReport
from . import builder, frames

COLLECTION_NAME = "DepthCloud Bake"
FUSED_NAME = "DepthCloud Fused"


def _tagged_collection(scene):
    collection = next((c for c in bpy.data.collections if c.get(builder.ROLE) == "bake"), None)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION_NAME)
        collection[builder.ROLE] = "bake"
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def _baked_frames(collection) -> list:
    """The per-frame objects a bake made in ``collection`` (tagged); anything the user put there is kept."""
    return [obj for obj in collection.objects if obj.get(builder.ROLE) == "baked_frame"]


def _remove_objects(objects) -> None:
    for obj in list(objects):
        mesh = obj.data
        bpy.data.objects.remove(obj)
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)


def _key_visible_only_at(obj, frame: int) -> None:
    """Keyframe hide_viewport/hide_render so ``obj`` shows on ``frame`` alone (constant interpolation)."""
    for hidden, at in ((True, frame - 1), (False, frame), (True, frame + 1)):
        obj.hide_viewport = obj.hide_render = hidden
        obj.keyframe_insert("hide_viewport", frame=at)
        obj.keyframe_insert("hide_render", frame=at)
    obj.hide_viewport = obj.hide_render = False


class BakeJob:
    """Bake ``frame_numbers`` of a sequence (``source`` folder or ``#`` pattern) in ``mode``.

    ``mode``: "PER_FRAME" or "FUSED"; ``voxel_size`` > 0 fuses with one point per voxel (mean
    position and color). Positions are in world space. Frames that cannot be loaded are skipped and
    listed in the summary; resolution or camera-type changes between frames are noted.
    """

    def __init__(self, context, *, source: str, from_setup: bool, options: BuildOptions, frame_numbers,
                 mode: str, voxel_size: float = 0.0, geometry: str = "POINTS", shading: str = "EMISSION",
                 point_size: float = 1.0, surface_step: float = 0.05):
        if mode not in ("PER_FRAME", "FUSED"):
            raise ValueError(f"mode must be PER_FRAME or FUSED, got {mode!r}")
        self.context, self.scene = context, context.scene
        self.source, self.from_setup, self.options = source, from_setup, options
        self.frames = list(frame_numbers)
        self.mode, self.voxel_size = mode, voxel_size
        self.look = dict(geometry=geometry, shading=shading, point_size=point_size)
        self.surface_step = surface_step
        self.next_index = 0
        self.kept_previous = False  # finish(): a cancelled bake left the previous one in place
        self.report = FrameReport()  # the frames baked, the frames skipped (and why) and their warnings
        self.notes: list[str] = []
        self.points = 0
        self._previous_camera = None
        self._original_frame = self.scene.frame_current
        self._fusion = Fusion(voxel_size) if mode == "FUSED" else None
        self._made: list = []  # this bake's per-frame objects; the previous bake's are swapped out at the end
        if mode == "PER_FRAME":
            self.collection = _tagged_collection(self.scene)
            self._previous = _baked_frames(self.collection)

    @property
    def total(self) -> int:
        return len(self.frames)

    def step(self) -> bool:
        """Bake the next frame; return True while frames remain."""
        if self.next_index >= self.total:
            return False
        frame = self.frames[self.next_index]
        self.next_index += 1
        self.scene.frame_set(frame)  # the scene camera is evaluated here for frames without a sidecar
        outcome = self.report.record(frame, self._read, keep_value=False)
        if outcome.ok:
            cloud = outcome.value
            self._note_changes(frame, cloud.camera)
            self.points += len(cloud.points)
            if self._fusion is not None:
                self._fusion.add(cloud)
            else:
                self._frame_object(frame, cloud)
        return self.next_index < self.total

    def _read(self, frame: int):
        return read_cloud(frames.frame_inputs(self.scene, self.source, self.from_setup, frame), self.options)

    @property
    def done(self) -> list[int]:
        """The frames baked so far."""
        return [o.frame for o in self.report.done]

    def _note_changes(self, frame: int, camera) -> None:
        previous, self._previous_camera = self._previous_camera, camera
        if previous is None:
            return
        if previous.shape != camera.shape:
            self.notes.append(f"resolution changes at frame {frame} ({previous.width_px}x{previous.height_px} -> "
                              f"{camera.width_px}x{camera.height_px})")
        if previous.projection != camera.projection:
            self.notes.append(f"camera type changes at frame {frame} ({previous.projection} -> {camera.projection})")

    def _frame_object(self, frame: int, cloud) -> None:
        mesh = bpy.data.meshes.new(f"{builder.CLOUD_NAME} {frame:04d}")
        builder.write_cloud_mesh(mesh, cloud, self.look["geometry"], self.surface_step, release=True)
        obj = bpy.data.objects.new(mesh.name, mesh)
        obj[builder.ROLE], obj["depth_cloud_frame"] = "baked_frame", frame
        builder.set_legend(obj, cloud.legend)
        self.collection.objects.link(obj)
        self._made.append(obj)
        builder.style_object(obj, **self.look)
        _key_visible_only_at(obj, frame)

    def abort(self) -> None:
        """Undo this bake (an unexpected error): remove what it made, keep the previous bake, restore the frame."""
        _remove_objects(self._made)
        self._made.clear()
        self.report = FrameReport()
        self.scene.frame_set(self._original_frame)

    def _has_previous(self) -> bool:
        """Whether a finished bake of this mode is in the file (its objects are ours: tagged)."""
        if self.mode == "PER_FRAME":
            return bool(self._previous)
        return builder.find_cloud(self.scene, "fused") is not None

    def finish(self) -> str:
        """Swap the new per-frame objects in for the previous bake's (PER_FRAME; a bake that made nothing
        keeps the previous one), or create the fused object (FUSED); restore the frame; return the summary.

        A bake that did not finish (cancelled) never replaces a finished one: when a previous bake is there, what
        this one made is removed and the previous bake is kept whole; without one, the frames baked are kept."""
        self.scene.frame_set(self._original_frame)
        cancelled = self.next_index < self.total
        if cancelled and self.done and self._has_previous():
            kept = len(self.done)
            self.abort()
            self.kept_previous = True
            return (f"cancelled before frame {self.frames[self.next_index]}: the previous bake is kept whole (the "
                    f"{kept} frame(s) baked now were discarded)")
        if self.mode == "PER_FRAME" and self.done:
            _remove_objects(self._previous)
            self._previous = []
        fused_count = 0
        if self.mode == "FUSED" and self.done:
            assert self._fusion is not None
            positions, colors, radii = self._fusion.result()
            self._fusion = None
            self.fused = builder.build_cloud_object(self.context, positions, colors, radii, role="fused",
                                                    name=FUSED_NAME, point_size=self.look["point_size"],
                                                    shading=self.look["shading"])
            fused_count = len(positions)
        parts = [f"baked {len(self.done)} of {self.total} frames ({self.points:,} points"]
        if self.mode == "FUSED" and self.done:
            parts[0] += f", fused into {fused_count:,}"
            if self.voxel_size:
                parts[0] += f" voxels of {self.voxel_size:g} m"
        parts[0] += ")"
        if cancelled:
            parts.append(f"cancelled before frame {self.frames[self.next_index]}")
        skipped = self.report.failed
        if skipped:
            parts.append("skipped frame(s) " + ", ".join(str(o.frame) for o in skipped) + f": {skipped[0].error}")
        parts.extend(self.notes)
        parts.extend(self.report.warning_lines())
        return "; ".join(parts)

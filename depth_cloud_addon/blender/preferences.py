"""Add-on preferences: the memory limit of the sequence frame cache, and how many points a playing
sequence shows."""

import bpy

from ..core.frames.cache import default_cache_mb

PLAYBACK_POINTS = 1_000_000  # default of "Points While Playing"
#: The add-on's own module, which Blender keys add-on preferences on: this package's parent ("depth_cloud_addon"
#: as a plain add-on, "bl_ext.<repo>.depth_cloud" as an installed extension), never "<that>.blender".
ADDON_MODULE = __package__.rpartition(".")[0]


class DepthCloudPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_MODULE

    cache_mb: bpy.props.IntProperty(
        name="Frame Cache (MB)",
        description="Memory for decoded sequence frames, so scrubbing the timeline re-reads nothing "
                    "(a 1920x1080 frame takes about 66 MB). Default: a quarter of this machine's RAM",
        default=default_cache_mb(), min=0,
    )
    playback_points: bpy.props.IntProperty(
        name="Points While Playing",
        description="While the timeline plays, a sequence frame with more points shows every k-th pixel "
                    "(points sized to match) so that playback keeps up; the full frame comes back when playback "
                    "stops, and renders always have every point. 0: always every point",
        default=PLAYBACK_POINTS, min=0,
    )

    def draw(self, context):
        self.layout.prop(self, "cache_mb")
        self.layout.prop(self, "playback_points")


def addon_preferences():
    """Our preferences, or None when the add-on was registered without being enabled (a script or test)."""
    addon = bpy.context.preferences.addons.get(ADDON_MODULE)
    return addon.preferences if addon is not None else None


classes = (DepthCloudPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)

"""Depth Cloud: turn rendered depth passes (OpenEXR) plus the scene camera into exact, colored 3D points.

``depth_cloud_addon.core`` is the pure-numpy library (no Blender needed); the Blender extension's
glue lives beside it. Conventions: ``docs/conventions.md``.
"""

"""Depth Cloud: turn rendered depth passes (OpenEXR) plus the scene camera into exact, colored 3D points.

``depth_cloud_addon.core`` is the pure-numpy library (no Blender needed). The Blender extension's
glue lives beside it and is imported only by :func:`register`, so importing the core never imports
``bpy``. Conventions: ``docs/conventions.md``.
"""


def _modules():
    from . import handlers, operators, operators_cv, panel, preferences, properties, sequence

    return (properties, sequence, preferences, operators, operators_cv, panel, handlers)


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()

"""Depth Cloud: turn rendered depth passes (OpenEXR) plus the scene camera into exact, colored 3D points.

Three layers (``docs/architecture.md``): ``core`` is the pure-numpy library (no Blender needed),
``blender`` the extension's glue (every module that imports bpy), ``cli`` the ``depth-cloud`` command.
The glue is imported only by :func:`register`, so importing the core or the CLI never imports
``bpy``. Conventions: ``docs/conventions.md``.
"""

#: The version of the add-on, the library and the CLI (pyproject.toml reads it; blender_manifest.toml repeats
#: it, and a test keeps the two equal).
__version__ = "0.1.0"


def register():
    from . import blender

    blender.register()


def unregister():
    from . import blender

    blender.unregister()

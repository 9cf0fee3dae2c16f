"""Everything of Depth Cloud that imports bpy: the Blender extension's glue over :mod:`..core`.

Registered by the package's :func:`depth_cloud_addon.register`.
"""


def modules():
    from . import handlers, operators, panel, preferences, properties, sequence

    return (properties, preferences, sequence, operators, panel, handlers)


def register():
    for module in modules():
        module.register()


def unregister():
    for module in reversed(modules()):
        module.unregister()

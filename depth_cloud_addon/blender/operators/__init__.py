"""The add-on's operators, one module per workflow; what they share is in :mod:`.base`."""

import bpy

from . import cloud, export, groundtruth, outputs

classes = outputs.classes + cloud.classes + groundtruth.classes + export.classes
register, unregister = bpy.utils.register_classes_factory(classes)

"""Build options <-> Blender properties: one mapping, derived from the fields of the core's ``BuildOptions``.

An operator (Build, Bake, Export) and a sequence binding (``Object.depth_cloud_sequence``) hold the options as
Blender properties of the fields' names; :func:`build_options` reads them, :func:`store_build_options` writes them.
The differences of shape are the rules below, written once:

* ``depth_range`` is three properties: ``use_depth_range``, ``depth_near``, ``depth_far``;
* ``attributes``: an operator's ``ENUM_FLAG`` set (``{"NORMAL"}``) or a binding's comma-separated string;
* enums (``depth_kind``, ``space``) are UPPER_CASE in an operator, lower case in the core (and in a binding);
* ``view_layer``: "" in Blender is None (the file's first layer) in the core;
* a ``geometry`` property (Points, Pixel Faces, Surface, Discs) sets ``with_points`` and ``discs``
  (:func:`geometry_fields`);
* a float property holds a float32: ``0.05`` typed in Blender reads ``0.05000000074505806``; the core gets the
  number the user typed back (:func:`typed_float`), as the CLI does from the same text.

A field the holder has no property for keeps its default, unless given.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.frames.cloud import BuildOptions

FIELDS = tuple(field.name for field in dataclasses.fields(BuildOptions))


def typed_float(value: float) -> float:
    """The decimal a float32 property shows, as a Python float: the shortest text that reads back as the same
    float32 (``0.05`` for 0.05000000074505806), so a voxel size or a threshold is the one the CLI reads from the
    same text, not 7e-10 off it (which moves voxel borders: up to a voxel's worth of points elsewhere)."""
    return float(str(np.float32(value)))
_ENUMS = ("depth_kind", "space")


def _properties(holder):
    """The struct that holds ``holder``'s properties: an operator's ``properties``, else the holder itself."""
    return getattr(holder, "properties", None) or holder


def _has(holder, name: str) -> bool:
    return name in holder.bl_rna.properties


def geometry_fields(geometry: str) -> dict:
    """The :class:`BuildOptions` fields a Geometry sets: pixel faces need no points; discs their normals and
    ellipses (``POINTS``, ``FACES``, ``SURFACE``, ``DISCS``)."""
    return {"with_points": geometry != "FACES", "discs": geometry == "DISCS"}


def build_options(holder, **given) -> BuildOptions:
    """The :class:`BuildOptions` of ``holder``'s properties; ``given`` fields win."""
    holder = _properties(holder)
    if _has(holder, "geometry"):
        given = {**geometry_fields(holder.geometry), **given}
    values = {}
    for name in FIELDS:
        if name in given:
            values[name] = given[name]
        elif name == "depth_range":
            if _has(holder, "use_depth_range"):
                values[name] = ((typed_float(holder.depth_near), typed_float(holder.depth_far))
                                if holder.use_depth_range else None)
        elif not _has(holder, name):
            continue
        elif name == "attributes":
            value = getattr(holder, name)
            values[name] = tuple(a for a in value.split(",") if a) if isinstance(value, str) else \
                tuple(a.lower() for a in value)
        elif name == "view_layer":
            values[name] = getattr(holder, name) or None
        elif name in _ENUMS:
            values[name] = getattr(holder, name).lower()
        elif isinstance(getattr(holder, name), float):
            values[name] = typed_float(getattr(holder, name))
        else:
            values[name] = getattr(holder, name)
    return BuildOptions(**values)


def store_build_options(holder, options: BuildOptions) -> None:
    """Write ``options`` into ``holder``'s properties (a sequence binding): the inverse of :func:`build_options`
    for the fields ``holder`` has."""
    holder = _properties(holder)
    for name in FIELDS:
        value = getattr(options, name)
        if name == "depth_range":
            holder.use_depth_range = value is not None
            if value is not None:
                holder.depth_near, holder.depth_far = value
        elif not _has(holder, name):
            continue
        elif name == "attributes":
            holder.attributes = ",".join(value)
        elif name == "view_layer":
            holder.view_layer = value or ""
        else:
            setattr(holder, name, value)

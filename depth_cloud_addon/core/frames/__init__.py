"""Frames on disk: the layer every entry point (Blender, the CLI, the library) shares.

* :mod:`.files`: file names, ``#`` patterns, frame specs, camera sidecars and which files make a frame.
* :mod:`.depth`: what kind of depth a file holds, and the one depth-kind converter.
* :mod:`.cloud`: one frame -> :class:`~.cloud.CloudArrays`; :mod:`.passes`: captured passes -> point attributes.
* :mod:`.export`: a cloud into a file (through :mod:`..formats.outputs`), with the output checks.
* :mod:`.loop`: the one frame loop (results, failures and warnings grouped by frame, cancellation).
* :mod:`.fusion`: many frames -> one cloud; :mod:`.cache`: decoded frames kept in memory.
* :mod:`.dataset`: frames -> a training dataset; :mod:`.inspect`: what a file holds.

Imports :mod:`..formats`, :mod:`..geometry` and the core's base.
"""

"""Camera geometry, pure numpy: the camera model and the numbers of pixels, rays and points.

* :mod:`.camera`: :class:`~.camera.CameraModel`, one frame's camera (Blender's viewplane: sensor fit, shift,
  pixel aspect, render region).
* :mod:`.projection`: pixels <-> rays <-> 3D points (back-projection, projection, depth kinds, footprints).
* :mod:`.panorama`: Cycles' equirectangular and fisheye mappings.
* :mod:`.surfaces`: pixel quads that tile the image, torn grid surfaces.
* :mod:`.normals`: surface discs (each pixel's surface normal and the radius that covers its footprint on it).
* :mod:`.voxel`: voxel keys, downsampling and the exact streaming accumulator.

Imports only the core's base (``errors``, ``_parallel``); nothing here reads or writes a file.
"""

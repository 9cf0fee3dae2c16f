"""File formats, pure numpy (+ OpenEXR; usd-core, pye57, laspy when used): one module per format.

* :mod:`.exr`: reading every EXR layout Blender writes, writing float32 EXRs.
* :mod:`.ply`, :mod:`.png`: binary PLY and NPZ; 8/16-bit PNG.
* :mod:`.usd`: USD point caches and cameras. :mod:`.survey`: E57 and LAS/LAZ.
* :mod:`.colmap`, :mod:`.splats`: a COLMAP sparse model; 3D Gaussian Splatting's PLY.
* :mod:`.annotations`: annotated pixels in (CSV/JSON), picked points out.
* :mod:`.camera_export`: OpenCV K and extrinsics, ``cameras.json``, nerfstudio's ``transforms.json``.
* :mod:`.outputs`: the one table of point-cloud output formats (extension -> writer, what each holds).

Imports the core's base and :mod:`..geometry`; never :mod:`..frames`.
"""

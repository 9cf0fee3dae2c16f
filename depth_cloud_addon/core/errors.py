"""Exception types of the core.

Every error the core raises on bad input derives from :class:`DepthCloudError`, so the Blender
glue and the CLI can catch exactly these (and report them) while real bugs still surface.
"""


class DepthCloudError(Exception):
    """Base class of every error raised by ``depth_cloud_addon.core`` on bad input."""


class ExrReadError(DepthCloudError):
    """An EXR file is missing, unreadable or corrupt."""


class MissingChannelError(ExrReadError):
    """An EXR file has no channel the reader can use; the message lists the channels present."""


class CameraError(DepthCloudError):
    """A camera description is incomplete, inconsistent or of an unsupported kind."""


class ResolutionMismatchError(DepthCloudError):
    """A depth map's size differs from the camera's image size (after the resolution percentage, and after
    the crop to the render region when Render Region and Crop to Border are on)."""


class NoValidDepthError(DepthCloudError):
    """A depth map holds no valid pixel (all background, non-finite or outside the clip range)."""


class NoSourceError(DepthCloudError):
    """No frames to read: no depth file was given and no outputs are set up."""


class MissingFrameError(DepthCloudError):
    """A frame's depth file does not exist (not rendered yet, or outside the sequence)."""


class FrameSpecError(DepthCloudError):
    """A frame specification (``1-240``, ``1-9,20-22``) cannot be read."""


class OutputError(DepthCloudError):
    """An output cannot be written where asked (e.g. it names one of the job's inputs)."""

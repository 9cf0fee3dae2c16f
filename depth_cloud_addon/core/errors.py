"""Exception types of the core, and the one message for an output that cannot be written.

Every error the core raises on bad input derives from :class:`DepthCloudError`, so the Blender
glue and the CLI can catch exactly these (and report them) while real bugs still surface.
"""

import os


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


class UnknownFormatError(OutputError):
    """An output's file name names no format the tool writes (the message lists the ones it does)."""


class MissingPackageError(DepthCloudError):
    """An optional package a file format needs is not installed: ``package`` is the module to import, ``install``
    the command that installs it. Raised before any work, so a run stops at once (the CLI exits 2)."""

    def __init__(self, message: str, *, package: str, install: str):
        super().__init__(message)
        self.package = package
        self.install = install


def cannot_write(path, error: BaseException) -> OutputError:
    """The one message for an output that cannot be written: ``PATH: cannot write: REASON`` (an ``OSError``'s
    ``strerror``, else the error's own text: a writing library's)."""
    return OutputError(f"{os.fspath(path)}: cannot write: {getattr(error, 'strerror', None) or error}")

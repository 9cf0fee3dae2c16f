"""``python -m depth_cloud_addon.cli``: the ``depth-cloud`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

"""Make molecule/shared/labtest.py importable and register its fixtures."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))

# pylint: disable=wrong-import-position,unused-import
from labtest import inventory_groups, is_first_manager  # noqa: E402,F401

"""Make molecule/shared/labtest.py importable and register its fixtures."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))

# pylint: disable=wrong-import-position,unused-import
from labtest import inventory_groups, is_first_manager  # noqa: E402,F401


def pytest_collection_modifyitems(items):
    """test_rolling.py before test_ha.py: test_ha's last test leaves a manager stopped (for the second converge to
    bring back), and a roll needs every manager. Otherwise the files keep their order."""
    rolling = [i for i in items if i.fspath.basename == "test_rolling.py"]
    if not rolling:
        return
    rest = [i for i in items if i not in rolling]
    at = next((n for n, i in enumerate(rest) if i.fspath.basename == "test_ha.py"), len(rest))
    items[:] = rest[:at] + rolling + rest[at:]

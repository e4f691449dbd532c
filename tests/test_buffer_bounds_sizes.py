"""The fixed-buffer audit of issue 12 (helpers/bounds.py says how it proves
every bound and holds the sizes): the sizes themselves, read from the
core's sources.
"""

import os
import re

from helpers import bounds

# ---------------------------------------------------------------- the sizes themselves

def _core_constants():
    """OT_* = <number or arithmetic of numbers> from the core's sources,
    when they are beside the built module (a source checkout)."""
    found = {}
    # The checkout's sources (this file's tree), whether the module under
    # test was built in place or installed from it.
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "opentracker_core")
    for name in sorted(os.listdir(here)):
        if name.endswith((".pxd", ".pxi", ".pyx")):
            with open(os.path.join(here, name)) as f:
                for m in re.finditer(r"^\s*(OT_\w+)\s*=\s*([0-9][0-9 +*()<]*?)\s*(?:#.*)?$", f.read(), re.M):
                    found[m.group(1)] = eval(m.group(2), {"__builtins__": {}})
    return found


def test_the_sizes_here_are_the_cores():
    """The sizes the test_buffer_bounds_*.py files test against (those of
    helpers/bounds.py) are the ones the core is built with (a source
    checkout): a changed buffer size shows here first."""
    found = _core_constants()
    mine = {name: value for name, value in vars(bounds).items() if name.startswith("OT_") and isinstance(value, int)}
    checked = {name: (value, found[name]) for name, value in mine.items() if name in found}
    assert len(checked) >= 15, sorted(checked)
    assert {name: pair for name, pair in checked.items() if pair[0] != pair[1]} == {}

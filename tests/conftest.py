"""What every test module may use: the hypothesis profiles, and the fixtures
that several modules share (the helper modules are in helpers/).

`tracker` (module scope): one tracker subprocess for all the tests of a
module, started before the first that asks for it and closed after the last.
The module says how it is made with a module-level `TRACKER`: the keyword
arguments of helpers.trackerproc.Tracker (a dict), or a function of the
fixture request that returns the Tracker, not yet started (when it needs the
module's test names for a whitelist, or a state file). Without `TRACKER`,
Tracker() with its defaults. A module may still define a `tracker` fixture of
its own, which takes precedence.

`h` and `unlisted` need the module's `sha(label)` (helpers/testhashes.py).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from helpers.testhashes import private_hash

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def tracker(request):
    """The module's tracker, made as its `TRACKER` says (see above)."""
    from helpers.trackerproc import Tracker
    how = getattr(request.module, "TRACKER", {})
    t = how(request) if callable(how) else Tracker(**how)
    t.start()
    yield t
    t.close()


@pytest.fixture
def h(request):
    """h(i): an info hash private to the calling test (i = 0..3 are on the
    whitelist helpers.testhashes.whitelist_for gives its module's tracker)."""
    return lambda i=0: private_hash(request, i)


@pytest.fixture
def unlisted(request):
    """A hash private to the calling test and on no whitelist."""
    return request.module.sha("unlisted:" + request.node.name)

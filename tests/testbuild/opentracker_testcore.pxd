# The core's declarations, for the test build's own copy of it (opentracker_testcore.pyx).
include "opentracker_core/_core.pxd"

# The core's declarations, for the benchmark's own copy of it (corebench.pyx).
include "opentracker_core/_core.pxd"

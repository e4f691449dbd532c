# Declarations of the core, stitched in dependency order. Only this file and
# _core.pyx use `include`; see docs/architecture.md, "One extension module".
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from opentracker_core.includes.cbytes cimport *
from opentracker_core.includes.system cimport *
from opentracker_core.includes.czlib cimport *

include "consts.pxi"
include "store.pxd"
include "address.pxd"
include "access.pxd"
include "stats.pxd"
include "encode.pxd"
include "answers.pxd"
include "livesync.pxd"
include "udp.pxd"
include "ratelimit.pxd"
include "status.pxd"
include "server.pxd"

/* OT_DEBUG is 1 in debug builds (OT_DEBUG=1 pip install ...): allocation counters and checks. */
#ifndef OT_DEBUG
#define OT_DEBUG 0
#endif

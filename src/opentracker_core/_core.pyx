# cython: language_level=3
# The one extension module: component bodies in dependency order.
include "store.pyx"
include "writers.pyx"
include "api.pyx"

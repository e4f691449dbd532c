"""A Server dropped inside a reference cycle (its hook refers back to it, as
the shell's closures do) is torn down by the garbage collector. Its
__dealloc__ gives the bytes of its buffers, connections and answers back to
the Store's budget, so the Store must still be alive then: under the
sanitizer run (tests/sanitize.sh) the old order was a heap-use-after-free;
here every block the core took is given back."""

import gc

from helpers.testcore import core


def test_server_in_a_cycle_is_collected_with_its_store_alive():
    gc.collect()        # earlier tests' cyclic garbage (tracebacks holding servers) is not counted here
    before = core.allocation_counts()
    srv = core.Server(seed=1)
    srv.configure()
    srv.announce_http(b"\x01" * 20, "10.0.0.1", 6881)
    srv.set_hook(60, srv.counters)      # srv -> bound method -> srv, as the shell passes its own
    assert srv.store.stats()["peers"] == 1
    del srv
    gc.collect()
    allocated, freed = core.allocation_counts()
    assert allocated - before[0] == freed - before[1], "blocks the core kept after the collection"

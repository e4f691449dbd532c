"""Info hashes private to one test. Each test module that uses them defines
`sha(label)`, the SHA-1 of its own prefix and the label, so that no two
modules share a torrent on the tracker they share; the hashes here are
that module's sha() of "<test name>#<i>"."""


def private_hash(request, i=0):
    """The i-th hash of the requesting test (the `h` fixture of conftest.py)."""
    return request.module.sha("%s#%d" % (request.node.name, i))


def whitelist_for(request_, extra=()):
    """Hashes for every test of the requesting module (h(0)..h(3) of the `h`
    fixture) plus extra: the whitelist of a module's tracker."""
    names = [item.name for item in request_.session.items if item.module is request_.module]
    return [request_.module.sha("%s#%d" % (n, i)) for n in names for i in range(4)] + list(extra)

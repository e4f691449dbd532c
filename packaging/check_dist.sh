#!/usr/bin/env bash
# Build the sdist and the wheel as a user would (python -m build), check
# both with twine, install each into a fresh venv and run it: -v, the man
# pages, --check-config, and a short HTTP and UDP announce on loopback.
# The sdist's install must not fetch Cython (it ships the generated C).
#
#   bash packaging/check_dist.sh [PYTHON]      # default python3; needs network to PyPI
#
# Prints one `ok:` line per check and ends with `N passed, 0 failed`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-python3}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
die() { echo "FAIL: $*"; echo "$passed passed, 1 failed"; exit 1; }

"$py" -m venv "$work/tools"
"$work/tools/bin/pip" install -q build twine > "$work/tools.log" 2>&1 || { cat "$work/tools.log"; die "pip install build twine"; }
# A clean clone of the checkout's commit, as a new user has it.
git clone -q "$here" "$work/src"
(cd "$work/src" && "$work/tools/bin/python" -m build --outdir "$work/dist" > "$work/build.log" 2>&1) \
    || { tail -30 "$work/build.log"; die "python -m build"; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
ok "built $(basename "$sdist") and $(basename "$wheel")"
tar -tzf "$sdist" > "$work/sdist.list"
grep -q '/src/opentracker_core/_core.c$' "$work/sdist.list" || die "the sdist lacks _core.c"
grep -q '/src/opentracker_core/_core.pyx$' "$work/sdist.list" || die "the sdist lacks _core.pyx"
tar -xzf "$sdist" -O --wildcards '*/pyproject.toml' > "$work/sdist-pyproject.toml"
grep -q '^requires = \["setuptools>=61"\]$' "$work/sdist-pyproject.toml" || die "the sdist's build still asks for Cython"
ok "the sdist carries the .pyx sources and the generated C, and builds without Cython"
"$work/tools/bin/twine" check --strict "$sdist" "$wheel" || die "twine check"
ok "twine check"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for dist in "$sdist" "$wheel"; do
    kind=$([ "$dist" = "$sdist" ] && echo sdist || echo wheel)
    venv=$work/venv-$kind
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -v "$dist" > "$work/install-$kind.log" 2>&1 || { tail -30 "$work/install-$kind.log"; die "$kind: pip install"; }
    if grep -qi "Collecting cython\|Downloading cython" "$work/install-$kind.log"; then die "$kind: the install fetched Cython"; fi
    "$venv/bin/python" -c 'import Cython' 2>/dev/null && die "$kind: Cython is in the venv"
    version=$("$venv/bin/opentracker" -v 2>&1) || die "$kind: opentracker -v"
    grep -q "^opentracker 0\.\|^opentracker [0-9]" <<< "$version" || die "$kind: -v says: $version"
    grep -q "core: commit [0-9a-f]\{12\}\|core: commit unknown" <<< "$version" || die "$kind: -v names no build: $version"
    grep -q "zlib: " <<< "$version" || die "$kind: -v names no zlib"
    ok "$kind: opentracker -v: $(grep 'core: commit' <<< "$version" | sed 's/^ *//')"
    for page in man1/opentracker.1 man5/opentracker.conf.5; do
        [ -f "$venv/share/man/$page" ] || die "$kind: $page not installed"
    done
    ok "$kind: man pages installed under share/man"
    # The tests' entry points live in a test build (tests/testbuild/) that is
    # never installed; the router's module must not name them.
    so=$("$venv/bin/python" -c 'import opentracker_core._core as c; print(c.__file__)')
    if strings "$so" | grep -q "_testhelper\|answer_http\|respond_http\|TestServer"; then
        die "$kind: the installed module carries test entry points ($so)"
    fi
    "$venv/bin/python" -c 'import opentracker_testcore' 2>/dev/null && die "$kind: the test build was installed"
    ok "$kind: the installed module names no test entry point (strings), and the test build is not installed"
    printf 'listen.tcp_udp 127.0.0.1:%d\ntracker.user nobody\n' "$port" > "$work/ot.conf"
    "$venv/bin/opentracker" -f "$work/ot.conf" --check-config > /dev/null || die "$kind: --check-config refused"
    ok "$kind: --check-config"
    "$venv/bin/opentracker" -f "$work/ot.conf" 2> "$work/run-$kind.log" &
    pid=$!
    pids+=("$pid")
    "$venv/bin/python" - "$port" <<'EOF' || die "$kind: announce"
import socket, struct, sys, time
port = int(sys.argv[1])
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the tracker did not come up")
        time.sleep(0.1)
s.close()


def fetch(request):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(request)
        answer = b""
        while True:
            data = c.recv(65536)
            if not data:
                return answer
            answer += data


reply = fetch(b"GET /announce?info_hash=" + b"%AB" * 20 + b"&port=6881&left=0&peer_id=-CHECK0-000000000000 HTTP/1.0\r\n\r\n")
assert reply.startswith(b"HTTP/1.1 200 OK") and b"8:intervali" in reply and b"8:completei1e" in reply, reply
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.sendto(struct.pack(">QII", 0x41727101980, 0, 7), ("127.0.0.1", port))
r = u.recv(64)
assert len(r) == 16 and struct.unpack(">II", r[:8]) == (0, 7), r
u.sendto(r[8:] + struct.pack(">II", 1, 8) + b"\xab" * 20 + b"-CHECK0-000000000001" + struct.pack(">QQQIIIiH", 0, 5, 0, 0, 0, 0, 50, 6882),
         ("127.0.0.1", port))
r = u.recv(1024)
action, tid, interval, leechers, seeders = struct.unpack(">IIIII", r[:20])
peers = {r[i:i + 6] for i in range(20, len(r), 6)}
assert (action, tid, leechers, seeders) == (1, 8, 1, 1) and bytes([127, 0, 0, 1, 0x1a, 0xe1]) in peers, r
page = fetch(b"GET /stats?mode=html HTTP/1.0\r\nAccept: text/html\r\n\r\n")
assert b"Content-Type: text/html" in page and b'<td id="peers">2</td>' in page, page[:300]
EOF
    kill "$pid"
    wait "$pid" || true
    ok "$kind: HTTP and UDP announces and the status page on 127.0.0.1:$port"
done
echo "$passed passed, 0 failed"

"""Checks over the core's source that the compiler cannot make: every byte
string written with an explicit length must have exactly that length."""

import ast
import pathlib
import re

CORE = pathlib.Path(__file__).resolve().parent.parent / "src" / "opentracker_core"
# put_raw(p, b"...", 12) / memcpy(out + 8, b"...", 25) / _herr_line(p, b"...", x) style calls
CALL = re.compile(r'(put_raw|memcpy|_mrtg|_rates|_top_section|_is|http_failure|write_failure|_ieq|find_header)'
                  r'\((?:[^()"]|\([^()]*\))*?(b"(?:[^"\\]|\\.)*")\s*,\s*(\d+)\s*[,)]')


def test_literal_lengths_match():
    checked = 0
    for path in sorted(CORE.glob("*.pyx")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for m in CALL.finditer(line):
                literal = ast.literal_eval(m.group(2))
                stated = int(m.group(3))
                assert len(literal) == stated, "%s:%d: %r is %d bytes, not %d" % (
                    path.name, lineno, literal, len(literal), stated)
                checked += 1
    assert checked > 50


# Python-side helpers of the core (argument checking for the Python API);
# everything else in the module is on the request path and must be plain C.
PYTHON_SIDE = {"_hashlist_set", "_pack_peer", "_hash_ptr"}
ALLOWED = {"Py_ssize_t", "PyMem_RawMalloc", "PyMem_RawRealloc", "PyMem_RawFree"}


def _strip_c(text):
    """C source without comments and string/char literals (kept as "")."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif ch in "\"'":
            j = i + 1
            while text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def test_request_path_is_free_of_python():
    """The `cython -a` check, automated: no cdef function of the core (but
    the few Python-side helpers) touches the Python C API."""
    c_file = CORE / "_core.c"
    if not c_file.exists():
        import pytest
        pytest.skip("no generated _core.c here (built elsewhere): run setup.py build_ext --inplace")
    code = _strip_c(c_file.read_text())
    found = {}
    for m in re.finditer(r"^static [^;{]*?\b__pyx_f_16opentracker_core_5_core_(\w+)\([^)]*\)\s*\{", code, re.M):
        depth, j = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        # cdef methods of the Python API classes are mangled <len><Class>_...
        if m.group(1) in PYTHON_SIDE or m.group(1)[0].isdigit():
            continue
        python = set(re.findall(r"\b(_?_?Py\w+)\b", code[m.end():j])) - ALLOWED
        if python:
            found[m.group(1)] = sorted(python)
    assert not found, "Python C-API use on the request path: %r" % found

"""Checks over the core's source that the compiler cannot make: byte strings
written with an explicit length have exactly that length; the request path
(every cdef function and method but a named few, and the project's C
headers) does not touch the Python C API; and the components are included
in dependency order, so _core.pyx's list is a true map of who uses whom."""

import ast
import pathlib
import re

CORE = pathlib.Path(__file__).resolve().parent.parent / "src" / "opentracker_core"
# put_raw(p, b"...", 12) / memcpy(out + 8, b"...", 25) / _herr_line(p, b"...", x) style calls
CALL = re.compile(r'(put_raw|memcpy|_mrtg|_rates|_top_section|name_is|http_failure|write_failure|_ieq|find_header)'
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


# Python-side helpers of the core (argument checking for the Python API) and
# cdef methods of its Python classes that only the Python API calls;
# everything else in the module is on the request path and must be plain C.
PYTHON_SIDE = {"_hashlist_set", "_hash_ptr", "_watch_on"}
PYTHON_SIDE_METHODS = set()
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


def _c_functions(code):
    """{name: body} of the core's cdef functions and methods in the generated
    C; methods are named Class.method."""
    found = {}
    for m in re.finditer(r"^static [^;{]*?\b__pyx_f_16opentracker_core_5_core_(\w+)\([^)]*\)\s*\{", code, re.M):
        depth, j = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        name = m.group(1)
        method = re.match(r"(\d+)(\w+)", name)
        if method:   # <len><Class>_<method>
            n = int(method.group(1))
            name = method.group(2)[:n] + "." + method.group(2)[n + 1:]
        found[name] = code[m.end():j]
    return found


def test_request_path_is_free_of_python():
    """The `cython -a` check, automated: no cdef function or method of the
    core (but the few Python-side helpers) touches the Python C API."""
    c_file = CORE / "_core.c"
    if not c_file.exists():
        import pytest
        pytest.skip("no generated _core.c here (built elsewhere): run setup.py build_ext --inplace")
    functions = _c_functions(_strip_c(c_file.read_text()))
    side = PYTHON_SIDE | {"%s.%s" % m for m in PYTHON_SIDE_METHODS}
    # A renamed module or a changed mangling would match nothing and pass.
    assert len(functions) >= 150, "only %d cdef functions found in %s" % (len(functions), c_file)
    assert side <= set(functions), "Python-side helpers not found: %r" % sorted(side - set(functions))
    found = {}
    for name, body in functions.items():
        if name in side:
            continue
        python = set(re.findall(r"\b(_?_?Py\w+)\b", body)) - ALLOWED
        if python:
            found[name] = sorted(python)
    assert not found, "Python C-API use on the request path: %r" % found


def test_c_headers_are_free_of_python():
    """The project's own C headers are included into the request path."""
    headers = sorted((CORE / "includes").glob("*.h"))
    assert len(headers) >= 3
    for path in headers:
        code = re.sub(r"^#\s*include.*$", "", _strip_c(path.read_text()), flags=re.M)
        python = set(re.findall(r"\b(_?_?Py\w+)\b", code)) - ALLOWED
        assert not python, "%s uses %r" % (path.name, sorted(python))


def test_components_are_included_in_dependency_order():
    """_core.pyx includes the components so that each uses only functions
    of those before it: a call to one defined later fails here."""
    order = re.findall(r'^include "(\w+)\.pyx"', (CORE / "_core.pyx").read_text(), re.M)
    assert len(order) >= 15, order
    assert sorted(order) == sorted(p.stem for p in CORE.glob("*.pyx") if p.stem != "_core"), \
        "every component is included once"
    defined = {}
    definition = re.compile(r"^cdef (?:inline )?[\w\s*]*?\b(\w+)\(", re.M)
    for i, name in enumerate(order):
        for m in definition.finditer((CORE / (name + ".pyx")).read_text()):
            defined.setdefault(m.group(1), i)
    assert len(defined) >= 150, len(defined)
    late = set()
    for i, name in enumerate(order):
        text = re.sub(r'"""(?:.|\n)*?"""', "", (CORE / (name + ".pyx")).read_text())
        text = re.sub(r"#.*", "", text)
        for m in re.finditer(r"\b(\w+)\(", text):
            j = defined.get(m.group(1))
            if j is not None and j > i:
                late.add("%s.pyx calls %s() of %s.pyx" % (name, m.group(1), order[j]))
    assert not late, sorted(late)


def test_every_component_is_at_most_600_lines():
    """One job per file: a component that outgrows 600 lines is doing two."""
    long = {p.name: n for p in CORE.glob("*.pyx") if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_every_component_is_named_in_the_readme_or_the_design_notes():
    """A maintainer who opens the README's component table or docs/ finds
    every file of the core there."""
    top = CORE.parent.parent
    text = (top / "README.md").read_text() + "".join(p.read_text() for p in (top / "docs").glob("*.md"))
    missing = [p.name for p in sorted(CORE.glob("*.p[xy][xd]")) if "`%s`" % p.name not in text and p.name not in text]
    assert not missing, missing

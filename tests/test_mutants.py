"""The mutant list (tests/mutants/mutants.py) stays in step with the code:
every patch applies exactly once and names tests that exist. Cheap: nothing
is built here; `python tests/mutants/run.py --quick` builds and runs them."""

import os
import re
import shlex
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "mutants"))

from mutants import MUTANTS  # noqa: E402

FIELDS = {"name", "file", "old", "new", "breaks", "tests", "quick"}


def test_names_are_unique_and_fields_known():
    names = [m["name"] for m in MUTANTS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)
    for m in MUTANTS:
        assert set(m) <= FIELDS and {"name", "file", "old", "new", "breaks", "tests"} <= set(m), m["name"]
        assert m["old"] != m["new"] and m["tests"], m["name"]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["name"] for m in MUTANTS])
def test_patch_applies_exactly_once(mutant):
    path = os.path.join(ROOT, mutant["file"])
    if not os.path.exists(path):
        pytest.fail("%s: %s does not exist" % (mutant["name"], mutant["file"]))
    with open(path, encoding="utf-8") as f:
        assert f.read().count(mutant["old"]) == 1, "%s: update tests/mutants/mutants.py" % mutant["name"]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["name"] for m in MUTANTS])
def test_named_tests_exist(mutant):
    for args in mutant["tests"]:
        files = [a.split("::")[0] for a in shlex.split(args) if a.startswith("tests/")]
        assert files, args
        assert all(os.path.isfile(os.path.join(ROOT, f)) for f in files), args


def test_the_quick_subset_covers_every_area():
    """CI runs only the quick ones: they still break the core and the shell."""
    quick = [m for m in MUTANTS if m.get("quick")]
    assert any(m["file"].startswith("src/opentracker_core/") for m in quick)
    assert any(m["file"].startswith("src/opentracker/") for m in quick)

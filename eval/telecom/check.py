#!/usr/bin/env python3
"""Consistency checks for the Ridgeline Mobile (telecom) evaluation set: `python3 check.py` in this folder (see ../check_set.py)."""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from check_set import Spec, run  # noqa: E402

SPEC = Spec(
    url_prefix="https://help.ridgelinemobile.example/",
    want_pages=20,
    want_counts={"in_scope": 78, "out_of_scope": 35, "human_request": 12},
    id_prefix="t",
    want_words=(150, 600), question_words=None, copied_runs_fail=False,
)

if __name__ == "__main__":
    run(HERE, SPEC)

#!/usr/bin/env python3
"""Consistency checks for the Lumio (smart-home, fictional) training set: `python3 check.py` in this folder (see ../../check_set.py)."""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from check_set import Spec, run  # noqa: E402

SPEC = Spec(
    url_prefix="https://support.lumio.example/",
    want_pages=18,
    want_counts={"in_scope": 70, "out_of_scope": 35, "human_request": 10},
    id_prefix="h",
    min_near_misses=27,
)

if __name__ == "__main__":
    run(HERE, SPEC)

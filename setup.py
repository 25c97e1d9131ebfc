"""Build of the optional C extension; all package metadata is in pyproject.toml.

`monitor.match._fold` folds text for the matcher in one C pass. It is optional:
without a compiler the build goes on without it and monitor/match/normalise.py
uses its pure-Python fold, which gives the same results (tests/test_normalise.py).
An editable install (`pip install -e .`, as the Makefile does) builds it in
place, next to its source.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("monitor.match._fold", ["monitor/match/_fold.c"], optional=True)])

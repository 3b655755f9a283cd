"""Loader for the pythonia bridge.

pythonia imports a file by path and puts its folder on sys.path; loading this
file (which lives next to the ``distillery`` package) makes the package
importable without touching PYTHONPATH, then re-exports the bridge.
"""

from distillery.bridge import invoke  # noqa: F401

"""Distillery's Python engine: data, models, losses, the training loop and ONNX export.

Driven from TypeScript through the pythonia bridge (``bridge.py``), or on its
own with ``python -m distillery`` (see ``__main__.py``).
"""

__version__ = "0.1.0"

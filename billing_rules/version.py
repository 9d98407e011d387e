"""The library's version, in a module of its own so that any module can read it without a circle.

``billing_rules/__init__.py`` re-exports it as ``billing_rules.__version__``; keep it equal to
``version`` in pyproject.toml.
"""

__version__ = "0.1.0"

"""Build and test helpers of the site: the snippet runner, the MkDocs hooks and their parts.

Imported as a package (``from tools import snippets``): pytest finds it through the
``pythonpath`` option in ``pyproject.toml``, the benchmarks and scripts run from the
repository root with ``python -m``, and the MkDocs hook registers it on loading
(``tools/mkdocs_hooks.py``).
"""

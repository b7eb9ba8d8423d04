"""Question-bank formats. Importing this package registers every format module that exists.

The native YAML format is always present; Moodle XML, GIFT and Excel are optional modules: when one
of them is absent it is skipped, but an import error inside a module that does exist is raised.
"""

from __future__ import annotations

import importlib

_FORMAT_MODULES = ("native_yaml", "moodle_xml", "gift", "excel")
_OPTIONAL = frozenset({"moodle_xml", "gift", "excel"})

for _module in _FORMAT_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ModuleNotFoundError as error:
        if _module not in _OPTIONAL or error.name != f"{__name__}.{_module}":
            raise

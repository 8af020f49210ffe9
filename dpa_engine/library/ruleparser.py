"""rule-engine, imported with its parser tables read from a file instead of computed.

rule-engine builds the LALR tables of its expression parser when it is imported (its `Rule`
class creates the parser in its body; PLY takes about 0.25 s for it). Before building them,
PLY looks for a table module `rule_engine.parser.parsetab`: `import_rule_engine` offers it
one made from `ruleparser-tables.json`, so every `dpa` process that loads a clause library
reads the tables instead (a few milliseconds). PLY compares the grammar's signature with the
one in the file; after a rule-engine upgrade that changed the grammar it ignores the file and
builds the tables as before (slower, same parser). Regenerate the file with

    python -m dpa_engine.library.ruleparser

(tests/test_cli_startup.py fails while it is out of date).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

TABLE_MODULE = "rule_engine.parser.parsetab"
TABLES = Path(__file__).with_name("ruleparser-tables.json")


def import_rule_engine() -> types.ModuleType:
    """rule_engine, imported once per process, its parser tables read from TABLES."""
    if "rule_engine" not in sys.modules and TABLE_MODULE not in sys.modules:
        tables = _table_module()
        if tables is not None:
            sys.modules[TABLE_MODULE] = tables
    return importlib.import_module("rule_engine")


def _table_module() -> types.ModuleType | None:
    try:
        data = json.loads(TABLES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # PLY builds the tables itself
    module = types.ModuleType(TABLE_MODULE, "rule-engine parser tables (dpa-engine cache)")
    module._tabversion = data["tabversion"]  # type: ignore[attr-defined]
    module._lr_method = data["method"]  # type: ignore[attr-defined]
    module._lr_signature = data["signature"]  # type: ignore[attr-defined]
    module._lr_action = {int(state): row for state, row in data["action"].items()}  # type: ignore[attr-defined]
    module._lr_goto = {int(state): row for state, row in data["goto"].items()}  # type: ignore[attr-defined]
    module._lr_productions = [tuple(p) for p in data["productions"]]  # type: ignore[attr-defined]
    return module


def table_data() -> dict[str, Any]:
    """The installed rule-engine's parser tables, as stored in TABLES."""
    rule_engine = importlib.import_module("rule_engine")
    yacc = importlib.import_module("rule_engine._vendor.ply.yacc")
    with tempfile.TemporaryDirectory(prefix="dpa-ruleparser-") as work:
        name = "dpa_ruleparser_tables"
        yacc.yacc(module=rule_engine.parser.Parser(), debug=False, write_tables=True,
                  tabmodule=name, outputdir=work, errorlog=yacc.NullLogger())
        spec = importlib.util.spec_from_file_location(name, Path(work) / f"{name}.py")
        assert spec is not None and spec.loader is not None
        written = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(written)
        namespace = vars(written)
    return {"tabversion": namespace["_tabversion"], "method": namespace["_lr_method"],
            "signature": namespace["_lr_signature"],
            "action": {str(k): v for k, v in namespace["_lr_action"].items()},
            "goto": {str(k): v for k, v in namespace["_lr_goto"].items()},
            "productions": [list(p) for p in namespace["_lr_productions"]]}


if __name__ == "__main__":
    TABLES.write_text(json.dumps(table_data(), sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TABLES}")

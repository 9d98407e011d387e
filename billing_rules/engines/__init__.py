"""Ways to run the checked rules, beside the row engine.

The row engine (closures, ``billing_rules.engines.row.engine``) and the relational back end (``relational/``:
the DSL compiled to SQL syntax trees, run by DuckDB) both read the same checked rule tree. The row
engine stays the reference (``check_one``, small files); the differential tests compare the
relational one against it.
"""

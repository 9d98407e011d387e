"""The two ways to run the checked rules, side by side, and what they share.

``row/`` compiles the rule tree to Python closures and checks one invoice at a time in SPEC §1
order: the reference semantics, ``check_one``, small files and plugins' Python rules.
``relational/`` compiles the same tree to SQL syntax trees run by DuckDB (or Spark). Both read only
``dsl.program`` and turn hits into findings through ``findings``; neither imports the other (an
import-linter contract), and the differential tests compare the relational one against the row one.
``choice`` decides which runs an input.
"""

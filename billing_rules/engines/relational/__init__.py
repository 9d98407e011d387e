"""The relational back end: the DSL's rule tree compiled to SQL syntax trees (sqlglot).

One intermediate form, run by DuckDB or by Apache Spark, each generating it in its own dialect.

Modules, one job each:

* ``table``: the invoice table the engine scans (its schema, built from events), and events rebuilt
  from its rows for the few invoices that have findings;
* ``plan``: what each loaded rule becomes (compiled condition, window, Python fallback), and the
  declared limitations;
* ``compile``: conditions and expressions of the DSL to sqlglot expressions;
* ``order``: the SPEC §1 order key ``ord``, one BIGINT computed from each row's own columns;
* ``sql``: the statements (derived columns, subjects, hits) built from those expressions;
* ``windows``: the frequency windows' statements (window functions, rolling self-joins);
* ``executor``: what the plan asks of an engine (load the invoices, run a statement, fetch hits);
* ``duckdb``: the embedded engine (one machine) behind that seam;
* ``spark``: Apache Spark behind the same seam (local mode, a cluster, Spark Connect);
* ``findings``: hits to findings with the row engine's own texts and amounts, opportunities kept
  compliant, conflicts resolved (SPEC §5);
* ``run``: the entry point used by the validator and the command line;
* ``history``: the ledger's history loaded in bulk (one SELECT or COPY to a file DuckDB reads);
* ``period``: ``simulate`` (SPEC §7) on the plan, the ledger's period read in bulk.

Nothing here is imported unless the relational engine is asked for: the core stays light
(``pip install 'billing-rules[batch]'`` brings duckdb and sqlglot, ``[spark]`` adds pyspark).
"""

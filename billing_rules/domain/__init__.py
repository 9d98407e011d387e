"""What the texts say, independent of any rule language or engine: tariffs, calendars, the forfait.

Nothing here imports the DSL, an engine, the ledger or the CLI: the rule language and both back ends
read these tables, never the other way round.
"""

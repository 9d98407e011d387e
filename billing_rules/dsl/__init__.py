"""The rule language: grammar to syntax tree (``parser``), tree to closures (``compiler``).

Nothing here is imported by ``import billing_rules``: Lark loads only when a rule file is parsed.
"""

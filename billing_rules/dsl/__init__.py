"""The rule language: grammar to syntax tree (``parser``), the tree checked once (``check``).

Nothing here is imported by ``import billing_rules``: Lark loads only when a rule file is parsed.
"""

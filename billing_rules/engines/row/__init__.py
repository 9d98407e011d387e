"""The row back end: rules compiled to Python closures, run one invoice at a time in SPEC §1 order.

It is the reference semantics, serves ``check_one`` and small inputs, and runs plugins' Python rules.
"""

"""``python -m billing_rules`` runs the CLI (same as the ``billing-rules`` script)."""

from billing_rules.cli import main

main()

"""The embedding API: assemble a rule set, check files and streams, live sessions, simulations.

This layer sits above both engines and chooses between them; the CLI is a thin layer over it. Import
from ``billing_rules`` itself (lazy exports) rather than from these modules where you can.
"""

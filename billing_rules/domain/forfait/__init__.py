"""The forfait médecin traitant (SPEC §6): its dated tables (``tables``) and the yearly estimate."""

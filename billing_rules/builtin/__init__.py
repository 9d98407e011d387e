"""Default plugins: the NGAP catalogue and the built-in formats, through the public hooks only."""

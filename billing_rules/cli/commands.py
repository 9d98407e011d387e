"""Imports every command module so that each adds its commands to the ``main`` group."""

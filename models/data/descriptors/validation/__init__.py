"""Validation of the DFT reference path on known crystals (see README.md in this folder)."""

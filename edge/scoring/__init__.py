"""Scoring: memory-bank search, template deviation, missing evidence, fusion, calibration, regions."""

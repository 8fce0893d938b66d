"""Fitting a recipe from normal scans: templates, memory banks, calibration."""

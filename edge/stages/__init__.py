"""Stages of the per-frame algorithm that have their own module (issue 11, item 5).

:mod:`edge.stages.registration` (the scan into the template's frame, with the global fallback) and
:mod:`edge.stages.template_fit` (deviation, missing material, coverage and fitness, on the visible part of the
template for a single view). The remaining stages are still methods of :class:`edge.inspector.Inspector`.
"""

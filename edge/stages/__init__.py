"""The stages of the per-frame algorithm, one module each (issue 11, item 5), in the order
:class:`edge.inspector.Inspector` runs them:

- :mod:`edge.stages.preprocess`: unit check, the processing cloud, enough points left to score
- :mod:`edge.stages.registration`: the scan in the template's frame, with the global fallback
- :mod:`edge.stages.template_fit`: deviation, missing material, coverage and fitness, on the visible part of the
  template for a single view
- :mod:`edge.stages.features`: descriptors and their memory-bank point scores
- :mod:`edge.stages.reconstruction`: DUS-Net reconstruction distance and the missing material it reveals
- :mod:`edge.stages.fusion`: the scan's regime, scaled branch scores and the fused point score
- :mod:`edge.stages.decision`: object score, calibration, PASS/FAIL and regions

:mod:`edge.stages.analysis` holds what the per-scan stages hand to fusion and decision. A stage takes the data and
the :class:`edge.recipe.RecipeModel`; the stages with several timed steps take the frame's
:class:`edge.timing.StageTimer`, the Inspector times the others.
"""

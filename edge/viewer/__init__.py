"""Views of one inspection result: a coloured PLY, a self-contained HTML page and the PNG heatmap share one
`Scene` (points and scores in the input cloud's frame, regions, the missing material from the template)."""

from edge.viewer.scene import Scene, build_scene, score_colours

__all__ = ["Scene", "build_scene", "score_colours"]

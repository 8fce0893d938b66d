"""`pcinspect demo`: the README's main job (placeholder registration, filled in below)."""

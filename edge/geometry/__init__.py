"""Tensor geometry on CPU or CUDA: one torch implementation per op, no open3d at run time."""

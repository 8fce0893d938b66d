"""What only training needs besides the network architectures (those are in ``edge.models``): Noise-Gen,
losses, fake anomalies, and the shipped shape-prior checkpoint."""

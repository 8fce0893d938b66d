"""The fixed-shape networks of the method, as plain ``torch.nn.Module`` classes (one module per architecture).

They live in ``edge`` because the edge's torch backend rebuilds them from a bundle's weights; the trainer
(``trainer/models``) adds what only training needs (Noise-Gen, losses, fake anomalies). Every network has one
tensor output, a batch dimension first, and its configuration as explicit constructor arguments, so a bundle
stores ``arch`` + ``config`` + weights and the exporters can put it in ONNX.
"""

from edge.models.registry import NETWORK_SPECS, NetworkSpec, build_network

__all__ = ["NETWORK_SPECS", "NetworkSpec", "build_network"]

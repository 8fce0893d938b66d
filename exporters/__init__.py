"""pcinspect exporters: torch -> ONNX, parity checks, TensorRT engines, bundle packaging and deployment."""

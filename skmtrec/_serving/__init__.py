"""What a fitted model does: outputs, rankings, explanations, ONNX export."""

"""The shared disease-risk network and the metrics it is judged by."""

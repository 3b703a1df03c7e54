"""Serving (to come): export bundle, onnxruntime runtime, HTTP service and the
served-impression log that closes the loop (shared/DESIGN.md section 2, "Bundle").
"""

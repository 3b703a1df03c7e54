"""Serving: export a trained policy as a bundle (:mod:`~ltvrec.serving.bundle`), serve it
with a torch-free runtime (:mod:`~ltvrec.serving.runtime`: numpy + onnxruntime) behind a
FastAPI service (:mod:`~ltvrec.serving.service`), and log every served slate with its
exact propensities in the interaction schema (:mod:`~ltvrec.serving.log`), so the loop
closes (shared/DESIGN.md section 2, "Bundle").
"""

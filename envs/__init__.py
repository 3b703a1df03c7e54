"""Gymnasium environments over any simulator (to come).

A one-user ``SlateRecEnv``, a native batched vector env and the stable-baselines3
adapter will live here (shared/DESIGN.md section 2, "Env").
"""

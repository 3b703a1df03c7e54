"""User simulators (to come: shared/DESIGN.md sections 3.1-3.2).

The known world (a parametric user model whose truth is known) and the simulator
fitted from logs will live here, both implementing one batched protocol:
``reset(n, rng)`` and ``step(slates [B, K]) -> responses``.
"""

"""Encoders: item texts through a pretrained language model, and the user state."""

"""Differentiable 1D LTE spectral synthesis in JAX (in progress: building blocks so far)."""

"""Air ↔ vacuum wavelength conversion (IAU standard, Morton 2000 / Birch & Downs 1994).

The refractive index of standard dry air (15 °C, 101 325 Pa, 0.045 % CO₂) is taken from
Birch & Downs (1994, Metrologia 31, 315) in the form adopted by the IAU and given by
Morton (2000, ApJS 130, 403, eq. 8):

    n − 1 = 8.34254e-5 + 2.406147e-2 / (130 − s²) + 1.5998e-4 / (38.9 − s²),

with s = 10⁴ / λ_vac (λ in Å, s in µm⁻¹). This is the same formula VALD and SDSS use.
``vacuum_to_air`` applies it directly; ``air_to_vacuum`` inverts it exactly (to float
round-off) with Newton iterations started from the Piskunov fit used by VALD, so the two
functions are inverses of each other. By IAU convention wavelengths below 2000 Å are always
vacuum and are returned unchanged.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

__all__ = ["air_to_vacuum", "vacuum_to_air", "AIR_VACUUM_MIN_WAVE"]

#: Below this wavelength [Å] air and vacuum wavelengths are the same by IAU convention.
AIR_VACUUM_MIN_WAVE = 2000.0


def _refractive_index_vac(wave_vac: Any) -> Any:
    """n(λ_vac) of standard air; ``wave_vac`` in Å."""
    s2 = (1e4 / wave_vac) ** 2
    return 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)


def vacuum_to_air(wave_vac: Any) -> Any:
    """Convert vacuum wavelengths [Å] to standard-air wavelengths [Å].

    Args:
        wave_vac: array of any shape, vacuum wavelengths in Å.

    Returns:
        array of the same shape; values below 2000 Å are returned unchanged.
    """
    wave_vac = jnp.asarray(wave_vac)
    safe = jnp.maximum(wave_vac, AIR_VACUUM_MIN_WAVE)
    return jnp.where(wave_vac < AIR_VACUUM_MIN_WAVE, wave_vac, safe / _refractive_index_vac(safe))


def air_to_vacuum(wave_air: Any, *, iterations: int = 3) -> Any:
    """Convert standard-air wavelengths [Å] to vacuum wavelengths [Å].

    Exact inverse of :func:`vacuum_to_air`: a first guess from Piskunov's fit (VALD) is
    refined by ``iterations`` Newton steps on ``vacuum_to_air(λ_vac) = λ_air``.

    Args:
        wave_air: array of any shape, air wavelengths in Å.
        iterations: Newton refinements (3 reach float64 round-off).

    Returns:
        array of the same shape; values below 2000 Å are returned unchanged.
    """
    wave_air = jnp.asarray(wave_air)
    safe = jnp.maximum(wave_air, AIR_VACUUM_MIN_WAVE)
    s2 = (1e4 / safe) ** 2
    n = (
        1.0
        + 8.336624212083e-5
        + 2.408926869968e-2 / (130.1065924522 - s2)
        + 1.599740894897e-4 / (38.92568793293 - s2)
    )
    wave_vac = safe * n
    for _ in range(iterations):
        # d(λ/n)/dλ ≈ 1/n; the dispersion term changes the step by < 1e-6 relative.
        residual = wave_vac / _refractive_index_vac(wave_vac) - safe
        wave_vac = wave_vac - residual * _refractive_index_vac(wave_vac)
    return jnp.where(wave_air < AIR_VACUUM_MIN_WAVE, wave_air, wave_vac)

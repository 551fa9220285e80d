"""A cheap, deterministic stand-in for jaxspec.synth.Synthesizer, and a grid worker script.

``FakeSynthesizer`` implements the synthesizer protocol (wave, label_names, label_units,
flux, __call__, check_labels, in_domain, config) with a few Gaussian lines on a Planck
continuum, in numpy. Its domain mimics the atmosphere's: a box plus a Teff-dependent lower
log g envelope.

Run as a script, it generates a grid in a child process so tests can kill it::

    python _grid_fake.py OUT N CHUNK SLEEP [HANG_CHUNK]

``SLEEP`` seconds pass in each ``flux`` call (``a,b,c``: a in the first call, b in the
second, c in the third and later ones); with ``HANG_CHUNK`` the process stops for good
while renaming that chunk's finished temporary file into place (after writing ``OUT.hang``),
so a test can kill it in the middle of a chunk write.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from jaxspec.errors import LabelRangeError

NAMES = ("teff", "logg", "feh", "alpha", "vmic")
UNITS = ("K", "dex", "dex", "dex", "km/s")
BOX_LO = np.array([3000.0, 0.0, -3.0, -0.4, 0.0])
BOX_HI = np.array([8000.0, 5.0, 1.0, 0.8, 5.0])
#: Bounds the tests sample from (partly outside the log g envelope).
BOUNDS = {
    "teff": (4000.0, 7000.0),
    "logg": (1.0, 5.0),
    "feh": (-2.5, 0.5),
    "alpha": (-0.2, 0.6),
    "vmic": (1.0, 1.0),
}
_LINES = np.array([4300.0, 4861.0, 5170.0, 5890.0, 6563.0])
_HC_K = 1.438776877e8  # h c / k [Å K]


def logg_min(teff):
    """Lowest log g of the fake domain at ``teff``: 0.5 at 3000 K rising to 2.5 at 8000 K."""
    return 0.5 + 2.0 * (np.asarray(teff, dtype=float) - 3000.0) / 5000.0


class FakeSynthesizer:
    """The synthesizer protocol, cheaply. ``calls`` records every ``flux`` input.

    ``sleep``: seconds per ``flux`` call, or a list (call i sleeps ``sleep[i]``, the last
    entry repeating). ``fail_after``: raise RuntimeError in call ``fail_after + 1``.
    """

    label_names = NAMES
    label_units = UNITS

    def __init__(
        self, wave_min=4200.0, wave_max=6800.0, resolution=None, *, sleep=0.0, fail_after=None
    ):
        if not wave_min < wave_max:
            raise ValueError(f"wave_min {wave_min} must be below wave_max {wave_max}")
        self.resolution = resolution
        n_wave = 240 if resolution is None else 100 + int(resolution) // 200
        self.wave = np.linspace(float(wave_min), float(wave_max), n_wave)
        self.sleep = sleep
        self.fail_after = fail_after
        self.calls: list[np.ndarray] = []

    def in_domain(self, labels):
        x = np.asarray(labels, dtype=float)
        ok = np.all((x >= BOX_LO) & (x <= BOX_HI), axis=-1)
        return ok & (x[..., 1] >= logg_min(x[..., 0]))

    def check_labels(self, labels):
        x = np.atleast_2d(np.asarray(labels, dtype=float))
        for row in x:
            for j, name in enumerate(NAMES):
                if not BOX_LO[j] <= row[j] <= BOX_HI[j]:
                    raise LabelRangeError(
                        f"{name} = {row[j]:g} {UNITS[j]} is outside the allowed range "
                        f"{BOX_LO[j]:g} to {BOX_HI[j]:g} {UNITS[j]}"
                    )
            if row[1] < logg_min(row[0]):
                raise LabelRangeError(
                    f"logg = {row[1]:g} is below the lowest log g {logg_min(row[0]):.2f} "
                    f"allowed at teff = {row[0]:g} K"
                )
        return labels

    def flux(self, labels):
        x = np.asarray(labels, dtype=float)
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("simulated crash of the synthesizer")
        self.calls.append(x.copy())
        if self.sleep:
            schedule = np.atleast_1d(self.sleep)
            time.sleep(float(schedule[min(len(self.calls), len(schedule)) - 1]))
        teff, logg, feh, alpha, vmic = (x[:, j : j + 1] for j in range(5))
        w = self.wave[None, :]
        depth = 0.3 + 0.1 * np.tanh((5500.0 - teff) / 1000.0) + 0.05 * feh + 0.01 * logg
        width = 0.5 + 0.2 * vmic
        norm = np.ones_like(w * teff)
        for k, centre in enumerate(_LINES):
            d = depth + 0.02 * alpha * (k % 2)
            norm = norm - d * np.exp(-0.5 * ((w - centre) / (width * (1 + k))) ** 2)
        # pi * B_lambda(T) [erg s^-1 cm^-2 A^-1]
        lam_cm = w * 1e-8
        b = 2 * 6.62607015e-27 * 2.99792458e10**2 / lam_cm**5 / np.expm1(_HC_K / (w * teff))
        continuum = np.pi * b * 1e-8
        return norm, continuum

    def __call__(self, labels):
        from jaxspec import Spectrum

        x = np.asarray(labels, dtype=float)
        norm, _ = self.flux(np.atleast_2d(x))
        return Spectrum(self.wave, norm[0] if x.ndim == 1 else norm, frame="rest")

    def config(self):
        return {
            "synthesizer": "FakeSynthesizer",
            "wave_min": float(self.wave[0]),
            "wave_max": float(self.wave[-1]),
            "resolution": self.resolution,
            "versions": {"fake": 1},
        }


def _hang_on_replace(chunk: int, marker: Path) -> None:
    """Make os.replace of chunk ``chunk`` hang after its temporary file is complete."""
    original = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == f"chunk_{chunk:06d}.h5":
            marker.write_text(json.dumps({"tmp": str(src)}))
            time.sleep(600)
        return original(src, dst, *args, **kwargs)

    os.replace = replace


def main(argv: list[str]) -> None:
    from jaxspec.synth.grid import generate_grid, sample_labels

    out, n, chunk = Path(argv[0]), int(argv[1]), int(argv[2])
    sleep = [float(s) for s in argv[3].split(",")]
    fake = FakeSynthesizer(sleep=sleep)
    labels = sample_labels(n, BOUNDS, seed=1, accept=fake.in_domain)
    if len(argv) > 4:
        _hang_on_replace(int(argv[4]), out.with_name(out.name + ".hang"))
    generate_grid(out, fake, labels, chunk_size=chunk, progress=False)


if __name__ == "__main__":
    main(sys.argv[1:])

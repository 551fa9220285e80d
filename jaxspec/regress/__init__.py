"""Data-driven regressors: stellar labels from spectra.

:class:`Cannon` is The Cannon (Ness et al. 2015; Casey et al. 2016), a polynomial model of
each pixel's flux in the labels, trained on stars of known labels; :func:`save_cannon` and
:func:`load_cannon` write and read it as a checksummed HDF5 file.

:class:`SpectrumCNN` is a deep ensemble of StarNet/astroNN-style 1-D CNNs with heteroscedastic
(aleatoric) and ensemble (epistemic) uncertainties, trained on augmented grid spectra;
:meth:`SpectrumCNN.save` / :meth:`SpectrumCNN.load` (:func:`save_cnn`, :func:`load_cnn`).
"""

from .._train import TrainConfig as TrainConfig
from .cannon import Cannon as Cannon
from .cannon import CannonResult as CannonResult
from .cannon_io import load_cannon as load_cannon
from .cannon_io import save_cannon as save_cannon
from .cnn import CNNResult as CNNResult
from .cnn import SpectrumCNN as SpectrumCNN
from .cnn_io import load_cnn as load_cnn
from .cnn_io import save_cnn as save_cnn

__all__ = [
    "TrainConfig",
    "Cannon",
    "CannonResult",
    "save_cannon",
    "load_cannon",
    "SpectrumCNN",
    "CNNResult",
    "save_cnn",
    "load_cnn",
]

"""realcheck: says whether an image is AI-generated or a real photograph, and shows why.

This package is the runtime-independent detection core: decoding, preprocessing,
the model registry, calibration and explanations. It imports nothing from
TorchServe, so another model server could host it unchanged.
"""

__version__ = "0.1.0"

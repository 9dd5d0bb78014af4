"""TorchServe entry point for the CNN detector (see realcheck_handler)."""

from realcheck_handler import RealcheckHandler


class CNNHandler(RealcheckHandler):
    model_name = "cnn"

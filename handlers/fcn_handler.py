"""TorchServe entry point for the FCN detector (see realcheck_handler)."""

from realcheck_handler import RealcheckHandler


class FCNHandler(RealcheckHandler):
    model_name = "fcn"

"""TorchServe entry point for the ViT detector (see realcheck_handler)."""

from realcheck_handler import RealcheckHandler


class ViTHandler(RealcheckHandler):
    model_name = "vit"

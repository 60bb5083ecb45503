# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .init import init_weights
from .two_decoder_unet import TwoDecoderUNet

__all__ = ["init_weights", "TwoDecoderUNet"]

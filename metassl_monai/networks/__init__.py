# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .init import init_weights
from .ssl4mis_unet import SSL4MISUNet
from .two_decoder_unet import TwoDecoderUNet

__all__ = ["init_weights", "SSL4MISUNet", "TwoDecoderUNet"]

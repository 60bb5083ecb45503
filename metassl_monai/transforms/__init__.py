# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .discrete import AsDiscrete, AsDiscreted
from .input_error import INPUT_ERROR_STATUS, input_error
from .intensity import INTENSITY_MODES, VolumeIntensityd
from .io import LoadH5d, read_h5_dataset
from .load_image import LoadImageNamingErrorsd
from .slices import VolumeSliced
from .validate import ValidateSegmentationInputd

__all__ = ["AsDiscrete", "AsDiscreted", "INPUT_ERROR_STATUS", "input_error", "LoadH5d", "LoadImageNamingErrorsd", "read_h5_dataset", "ValidateSegmentationInputd", "VolumeSliced",
           "VolumeIntensityd", "INTENSITY_MODES"]

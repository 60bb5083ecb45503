# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .acdc import SSL4MIS_LABELED_SLICES, acdc_slice_datalists, acdc_volume_datalist, patient_id, read_list
from .nifti import nifti_datalist
from .synthetic import make_acdc_like_dataset, synthesize_slice, synthesize_volume, write_nifti_volumes

__all__ = [
    "SSL4MIS_LABELED_SLICES",
    "acdc_slice_datalists",
    "acdc_volume_datalist",
    "patient_id",
    "read_list",
    "nifti_datalist",
    "make_acdc_like_dataset",
    "synthesize_slice",
    "synthesize_volume",
    "write_nifti_volumes",
]

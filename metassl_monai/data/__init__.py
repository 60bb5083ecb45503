# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .acdc import (
    SSL4MIS_LABELED_SLICES,
    acdc_slice_datalists,
    acdc_split,
    acdc_volume_datalist,
    acdc_volume_slices,
    patient_id,
    read_list,
)
from .atomic_writer import AtomicNibabelWriter
from .cache_dataset import CacheDataset
from .datalists import (
    datalist_split,
    dataset_folder_datalist,
    is_slice_datalist,
    read_datalist,
    split_or_datalist,
    volume_name,
    volume_slices,
    write_datalist,
)
from .la import (
    LA_TRAINING_FOLDER,
    UAMT_LABELED_CASES,
    convert_raw_la_to_uamt,
    la_uamt_datalists,
    la_uamt_eval_datalist,
    la_uamt_split,
    msd_heart_split,
    write_uamt_as_nifti,
    msd_heart_datalist,
    read_nrrd,
    read_nrrd_header,
)
from .nifti import nifti_datalist
from .skip_failed import FailedItem, SkipFailedItems, root_cause
from .paths import require_batches, require_dir
from .studies import is_monailabel_datalist, is_volume_datalist, study_id, unlabeled_studies
from .synthetic import (
    make_acdc_like_dataset,
    synthesize_slice,
    synthesize_volume,
    write_acdc_datalist,
    write_nifti_volumes,
)
from .synthetic_la import (
    synthesize_la_volume,
    write_msd_heart_dataset,
    write_nrrd,
    write_raw_la_dataset,
    write_uamt_la_dataset,
)

__all__ = [
    "datalist_split",
    "write_acdc_datalist",
    "dataset_folder_datalist",
    "is_slice_datalist",
    "read_datalist",
    "split_or_datalist",
    "volume_name",
    "volume_slices",
    "write_datalist",
    "AtomicNibabelWriter",
    "CacheDataset",
    "FailedItem",
    "SkipFailedItems",
    "root_cause",
    "SSL4MIS_LABELED_SLICES",
    "acdc_slice_datalists",
    "acdc_split",
    "acdc_volume_datalist",
    "acdc_volume_slices",
    "patient_id",
    "read_list",
    "nifti_datalist",
    "require_batches",
    "require_dir",
    "is_volume_datalist",
    "is_monailabel_datalist",
    "study_id",
    "unlabeled_studies",
    "make_acdc_like_dataset",
    "synthesize_slice",
    "synthesize_volume",
    "write_nifti_volumes",
    "LA_TRAINING_FOLDER",
    "UAMT_LABELED_CASES",
    "convert_raw_la_to_uamt",
    "la_uamt_datalists",
    "la_uamt_eval_datalist",
    "la_uamt_split",
    "msd_heart_split",
    "write_uamt_as_nifti",
    "msd_heart_datalist",
    "read_nrrd",
    "read_nrrd_header",
    "synthesize_la_volume",
    "write_msd_heart_dataset",
    "write_nrrd",
    "write_raw_la_dataset",
    "write_uamt_la_dataset",
]

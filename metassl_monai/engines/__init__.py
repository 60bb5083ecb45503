# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from metassl_monai.lazy_floats import LazyFloats

from .fresh_run_log import FreshRunResumeFilter, quiet_fresh_run_messages
from .gpu_settings import as_flag, memory_format, set_cudnn_benchmark
from .random_state import get_random_states, randomizable_objects, set_random_states, stateful_transforms
from .resume import ValidationState, backup_file, latest_checkpoint, prepare_output_dir
from .semi_supervised_trainer import SemiSupervisedTrainer
from .streams import ResumableStream
from .trainer_resume_state import TrainerResumeState

__all__ = [
    "SemiSupervisedTrainer",
    "LazyFloats",
    "ResumableStream",
    "TrainerResumeState",
    "ValidationState",
    "backup_file",
    "latest_checkpoint",
    "prepare_output_dir",
    "get_random_states",
    "randomizable_objects",
    "set_random_states",
    "stateful_transforms",
    "as_flag",
    "memory_format",
    "set_cudnn_benchmark",
    "FreshRunResumeFilter",
    "quiet_fresh_run_messages",
]

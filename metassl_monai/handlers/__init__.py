# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .atomic_checkpoint_saver import AtomicCheckpointSaver
from .failed_inputs import FailedInputsReport
from .consistency_rampup import ConsistencyRampUp, LinearRampUp, SigmoidRampUp
from .iteration import follow_iteration
from .loss_trace import LossTraceWriter, read_loss_trace
from .metrics_json import MetricsJSONSaver
from .metrics_saver import ClassNamedMetricsSaver
from .overlay_png import OverlayPNGSaver
from .region_tensorboard import RegionTensorBoardHandler
from .spacing_aware_metric import SpacingAwareMetric, voxel_spacing

__all__ = ["AtomicCheckpointSaver", "ClassNamedMetricsSaver", "ConsistencyRampUp", "FailedInputsReport", "LinearRampUp", "SigmoidRampUp", "follow_iteration", "LossTraceWriter", "read_loss_trace",
           "MetricsJSONSaver", "OverlayPNGSaver", "RegionTensorBoardHandler", "SpacingAwareMetric", "voxel_spacing"]

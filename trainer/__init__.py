"""pcinspect trainer: data, synthetic parts and defects, models, fitting, calibration, evaluation."""

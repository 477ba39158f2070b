"""Offline pose estimation (MediaPipe BlazePose) mapped onto NTU RGB+D's 25 joints.

:mod:`core_models.pose.mapping` is the numpy side (landmarks to joints, confidence, smoothing, the
main person); :mod:`core_models.pose.estimate` runs BlazePose on videos and writes ``.skeleton``
files. Importing this package does not import MediaPipe.
"""

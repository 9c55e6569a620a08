"""Observation bridges: ROS-side observations -> provider-native inputs, one module per task/provider."""

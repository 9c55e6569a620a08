"""ROS-free core of worldforge_ros: contracts, errors, events, redaction, digests, selection, translators,
manifests and the run workspace. Nothing under ``worldforge_ros.core`` imports rclpy."""

"""Thin rclpy shells over ``worldforge_ros.core``: they parse parameters, convert messages, call core, publish."""

"""ROS-free evidence tools: write, read, verify, recover, report on and compare rosbag2 (MCAP) evidence bags.

Nothing in this package imports rclpy: a laptop with ``rosbags``, ``mcap`` and ``matplotlib`` can verify and
report on a bag recorded on the robot. Modules are imported on use (``from worldforge_ros.evidence.verify
import verify_bag``) so the lighter tools do not pull matplotlib in.
"""

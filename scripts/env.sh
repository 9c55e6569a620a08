# source scripts/env.sh — a shell with the worldforge_ros venv, ROS 2 and the built workspace active.
# After it: `ros2 run worldforge_ros <node>` (where ros2cli exists), `worldforge-ros ...`,
# `python -c 'import worldforge_ros.srv'`. Run scripts/setup (and scripts/build) first; scripts/test does both.
_wf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_wf_venv=${WFROS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/worldforge_ros/venv}
if [ ! -f "$_wf_venv/ros-env.sh" ]; then
  echo "worldforge_ros: no environment at $_wf_venv — run scripts/setup first" >&2
  return 1 2>/dev/null || exit 1
fi
# colcon's setup files read unset variables: never source them under `set -u`.
_wf_had_u=0; case $- in *u*) _wf_had_u=1; set +u ;; esac
source "$_wf_venv/ros-env.sh"
if [ -f "$_wf_root/install/setup.bash" ]; then
  source "$_wf_root/install/setup.bash"
else
  echo "worldforge_ros: workspace not built yet — run scripts/build" >&2
fi
[ "$_wf_had_u" = 1 ] && set -u
export WORLDFORGE_ROS_ROOT="$_wf_root"
unset _wf_root _wf_venv _wf_had_u

"""pip-installable ROS-free part of worldforge_ros: the core, evidence tools and the ``worldforge-ros`` CLI.

On a ROS machine the package is built by colcon from package.xml/CMakeLists.txt instead (package.xml decides
the build type); this file lets a laptop verify and report on evidence bags without ROS.
"""

from pathlib import Path

from setuptools import find_packages, setup

# manifests/ and config/ live at the repository root (the ament layout); a pip install puts them under
# <prefix>/share/worldforge_ros/, where core.manifests / core.profiles look after the source tree.
DATA_FILES = [(f"share/worldforge_ros/{d.as_posix()}", [str(f) for f in sorted(d.glob("*.*"))])
              for d in [Path("config"), Path("manifests/schema"), Path("manifests/runtime")] if d.is_dir()]

setup(
    name="worldforge_ros",
    version="0.1.0",
    description="ROS-free core, evidence verification and CLI of worldforge_ros",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["worldforge_ros", "worldforge_ros.*"]),
    package_data={"worldforge_ros": ["**/*.json", "**/*.yaml"]},
    data_files=DATA_FILES,
    install_requires=["numpy", "PyYAML", "jsonschema"],
    extras_require={
        "evidence": ["rosbags>=0.11", "mcap>=1.2", "matplotlib"],
        "gr00t": ["pyzmq", "msgpack", "msgpack-numpy", "httpx"],
    },
    entry_points={"console_scripts": ["worldforge-ros=worldforge_ros.cli:main"]},
)

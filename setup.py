"""Packaging for aotvideo: AOT / DeAOT video object segmentation as a tool."""
from setuptools import find_packages, setup

setup(
    name="aotvideo",
    version="0.1.0",
    description="Video object segmentation with AOT and DeAOT: track objects from a first-frame mask through whole videos",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["aotvideo", "aotvideo.*"]),
    # plugins/gstreamer/bin: wrappers of GStreamer's programs (executable; the links become copies)
    package_data={"aotvideo": ["py.typed", "data/*", "plugins/gstreamer/python/*.py", "plugins/gstreamer/bin/*",
                              "studio/static/*"]},
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "av>=12",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "click>=8.1",
        # checkpoint downloads (aotvideo.download): Google Drive's pages, resume, timeouts
        "requests>=2.28",
        # aotvideo studio: the correction web app (an ASGI app and its server)
        "starlette>=0.37",
        "uvicorn>=0.29",
    ],
    extras_require={
        # Optional CUDA/C++ accelerator for the short-term attention; never required.
        "correlation": ["spatial-correlation-sampler>=0.4"],
        "train": ["tensorboard>=2.12", "scikit-image>=0.21"],
        # `aotvideo batch --ray`: jobs spread over a Ray cluster.
        "ray": ["ray>=2.9"],
        "test": ["pytest>=7.4", "scikit-image>=0.21", "ray>=2.9", "httpx2>=2.0", "selenium>=4.15"],
    },
    entry_points={"console_scripts": ["aotvideo=aotvideo.cli:main"]},
)

"""bigearth: deep learning on Sentinel-1/Sentinel-2 data around the refined BigEarthNet (reBEN) archive."""

__version__ = "0.1.0"

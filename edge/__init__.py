"""pcinspect edge runtime: everything needed to inspect a frame and serve verdicts.

The edge never imports `trainer` or `exporters` and never needs open3d at run time.
"""

__version__ = "0.1.0"

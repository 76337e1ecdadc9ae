"""community.greengrass.MLFeedback: the v1 ML Feedback connector (and inference service) on Greengrass v2.

Kept free of imports so the install step can run before the dependencies exist.
"""

__version__ = "1.0.0"

"""Every config key, with its default and a comment: see vampjax/default_config.py.

The schema lives in the library so that validation needs nothing from configs/; this
module keeps `from configs import default` working for the experiment files.
"""

from vampjax.default_config import get_config

__all__ = ["get_config"]

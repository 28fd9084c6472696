"""hotfix-operator: deploy a hotfix image on the config of the release it fixes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hotfix-operator")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

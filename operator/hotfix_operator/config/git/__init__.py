"""The git edge: local bare mirrors of config repositories, the only code that runs git.

processes.py   running git: hardened options, environment, credentials, deadlines
objects.py     reading objects through one long-lived ``git cat-file`` per mirror
mirrors.py     Mirror (fetch, branch heads, history, content) and MirrorPool
exporting.py   writing a folder's regular files for the renderers, bounded
"""

from __future__ import annotations

from hotfix_operator.config.git.mirrors import FolderChange, Mirror, MirrorPool

__all__ = ["FolderChange", "Mirror", "MirrorPool"]

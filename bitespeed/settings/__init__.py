"""Settings for the identity reconciliation service, by use case.

Every setting that differs between machines is read from the environment in this package and
nowhere else (12-factor), through ``environment``: a ``.env`` file beside ``manage.py`` is loaded
first when present, without overriding variables that are already set; ``.env.example`` lists
every variable. Each module holds one concern and imports what it reads from another.
"""

from bitespeed.settings.api import *  # noqa: F403
from bitespeed.settings.core import *  # noqa: F403
from bitespeed.settings.database import *  # noqa: F403
from bitespeed.settings.identity import *  # noqa: F403
from bitespeed.settings.logs import *  # noqa: F403
from bitespeed.settings.security import *  # noqa: F403

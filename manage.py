#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitespeed.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # The settings say what to set (a missing SECRET_KEY, a bad value); a traceback through
        # the settings modules would bury it. --traceback still shows one.
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    main()

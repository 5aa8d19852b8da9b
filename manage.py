#!/usr/bin/env python
import os
import sys
from importlib import import_module


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    if not any(arg.startswith("--settings") for arg in sys.argv):
        try:
            import_module(os.environ["DJANGO_SETTINGS_MODULE"])
        except ImproperlyConfigured as exc:
            # A setting the environment gets wrong: the operator needs its name, not a traceback.
            sys.exit(f"Offload cannot start: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

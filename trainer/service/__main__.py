"""``python -m trainer.service``: see :mod:`trainer.service.cli`."""

from .cli import main

if __name__ == "__main__":
    main()

"""Kept for imports of the message builders by their old name: see `debtor_messages`."""

from simulator.beskedfordeler.debtor_messages import (  # noqa: F401
    FORDRING_TIL_INDBETALING,
    STATUSSKIFT,
    fordring_til_indbetaling_besked,
    statusskift_besked,
)

"""The admin/UI surface (`/api`, `/healthz`), kept apart from the mock-facing `/service` surface."""

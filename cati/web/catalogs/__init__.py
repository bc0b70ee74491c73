"""Per-feature message catalogs: each module defines ``ZH`` and ``EN`` (same keys), merged by
``cati.web.i18n``. A feature adds its own module here instead of editing the base catalog."""

"""The verification kit's checker (``cati verify``): needs only the project installed.

Pure: no database, no service, no settings. It imports the pure cores (``dialer.rdd``,
``scoring``, ``questionnaire``), the shared scoring path (``cati.results.report``) and the pure
hashing of the audit chain, checkpoints and sealed results (``cati.verify.chain``,
``cati.verify.checkpoint``, ``cati.verify.sealed``), which the service itself uses too, so both
sides hash the very same bytes. ``tests/test_bundle.py`` checks that importing it loads no
SQLAlchemy.
"""

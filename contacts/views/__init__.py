"""HTTP endpoints, one module per use case: thin shells over ``contacts.services``,
``contacts.selectors`` and ``contacts.health``."""

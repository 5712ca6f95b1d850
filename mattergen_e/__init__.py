"""mattergen-e for its users: the HTTP client (:mod:`mattergen_e.client`) and the ``mattergen-e``
command (:mod:`mattergen_e.cli`). Importing it needs neither torch nor the service's own packages."""

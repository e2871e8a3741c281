"""The ``analytiq-db`` command line: parsing and rendering over the engines, nothing more."""

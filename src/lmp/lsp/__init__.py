"""The lmp language server (pygls 2): a thin layer over the library's IR."""

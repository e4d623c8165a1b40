"""The typed IR: the single representation shared by checker, interpreter, optimizer and server."""

from lmp.syntax.larkload import import_lark as _import_lark

_import_lark()

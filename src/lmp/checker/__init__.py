"""The checker: field-flow and type mistakes found before any model is called."""

from lmp.checker.checker import check_program

__all__ = ["check_program"]

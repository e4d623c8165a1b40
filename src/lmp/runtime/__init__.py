"""The runtime: adapters, predictors, retrievers and the interpreter that runs Module IR.

Nothing heavy is imported here: `lmp.runtime.lm` imports litellm lazily, and callers import the
submodule they need (`lmp.runtime.interpreter`, `lmp.runtime.preview`, ...).
"""

"""Deploying lmp programs: an HTTP JSON server (`lmp serve`) and an MLflow pyfunc export
(`lmp export mlflow`). Importing this package is cheap; Starlette, uvicorn and MLflow are imported
by the submodules that need them."""

"""MLflow models-from-code entry: `lmp export mlflow` saves this file as the model's code, so the
model directory holds no pickle. MLflow executes it at load time and takes the object passed to
`set_model`; the program itself comes from the model's artifacts (see mlflow_pyfunc.py)."""

from mlflow.models import set_model

from lmp.deploy.mlflow_pyfunc import LmpPythonModel

set_model(LmpPythonModel())

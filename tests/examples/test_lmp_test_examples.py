"""`lmp test` on an example folder, on the embedded local model, as CI runs it (JUnit + JSON).

What is asserted is what the runner guarantees (typed outputs, a passing `expect`, token counts, a JUnit
file CI can read), not the 135M model's accuracy: the example's accuracy lines are `check`s."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.local_model


def test_lmp_test_on_an_example_folder(lmp, tmp_path):
    junit = tmp_path / "feedback.xml"
    proc = lmp("test", "examples/feedback", "-k", "handle", "--json", "--junit", str(junit), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    [res] = data["results"]
    assert res["name"] == "handle" and res["status"] == "pass"
    assert res["outputs"]["sentiment"] in ("positive", "negative")
    assert res["output_types"] == {"sentiment": "Sentiment"}
    assert [e["kind"] for e in res["expectations"]] == ["check", "expect"]
    assert res["expectations"][1]["passed"] is True
    assert res["calls"] >= 1 and (res["cache_hits"] == res["calls"] or res["tokens"]["prompt"] > 0)
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"
    [case] = suite.findall("testcase")
    assert case.get("classname") == "reviews.ClassifyReview" and list(case) == []

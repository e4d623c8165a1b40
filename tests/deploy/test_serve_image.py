"""`lmp serve` with an Image input: a data: URI is sent to the model as an image part; a file path is
refused (a client must not make the server send the server's own files), before any model call."""

from __future__ import annotations

import base64

import httpx

from lmp.runtime import settings
from tests.runtime.media_helpers import answer, png

PROGRAM = '''signature Caption {
  in  photo: Image
  out caption: str
}

module Describe(photo: Image) -> (caption: str) {
  let caption = Predict(Caption)
  return caption(photo: photo)
}
'''


def test_data_uri_goes_to_the_model_and_paths_are_refused(serve, tmp_path, monkeypatch):
    path = tmp_path / "vision.lmp"
    path.write_text(PROGRAM)
    secret = tmp_path / "private.png"
    secret.write_bytes(png())
    monkeypatch.chdir(tmp_path)
    srv = serve(str(path), default=answer(caption="a red square"))
    lm = settings.current().lm
    data_uri = "data:image/png;base64," + base64.b64encode(png()).decode()
    r = httpx.post(srv.url + "/modules/Describe", json={"photo": data_uri})
    assert r.status_code == 200, r.text
    assert r.json() == {"caption": "a red square"}
    parts = lm.calls[-1]["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": data_uri}} in parts
    calls = len(lm.calls)
    for value in ("private.png", str(secret)):
        r = httpx.post(srv.url + "/modules/Describe", json={"photo": value})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_request" and r.json()["fields"][0]["field"] == "photo"
        assert "file paths are not accepted" in r.json()["message"]
    assert len(lm.calls) == calls  # refused before any model call

"""`Image` inputs end to end over the loopback fake server: content parts in the request body (chat
and JSON adapters), MIME from content, URLs passed through, the not-a-vision-model error before any
request, placeholders (never base64) in previews and call history, loading rules and limits."""

from __future__ import annotations

import base64
import json
import textwrap

import pytest

from lmp.project import load_text
from lmp.runtime import settings
from lmp.runtime.errors import LmpRuntimeError
from lmp.runtime.inputs import InputValueError, parse_assignments
from lmp.runtime.interpreter import Interpreter
from lmp.runtime.lm import FakeServer, History, LiteLLM, LocalLM
from lmp.runtime.media import Image, ImageError, accepts_images, as_image, no_local_files
from lmp.runtime.preview import render_preview
from tests.runtime.media_helpers import answer, jpeg_header, png

PROGRAM = textwrap.dedent('''
    signature Describe {
      in photo: Image
      in question: str
      out answer: str
    }

    signature Compare {
      in photos: list[Image]
      out same: bool
    }

    module Ask(photo: Image, question: str) -> (answer: str) {
      let describe = Predict(Describe)
      p = describe(photo: photo, question: question)
      return (answer: p.answer)
    }

    module AskJson(photo: Image, question: str) -> (answer: str) {
      let describe = Predict(Describe)
      p = describe(photo: photo, question: question)
      return (answer: p.answer)
    }

    module FromUrl(url: str) -> (answer: str) {
      let describe = Predict(Describe)
      p = describe(photo: image(url), question: "what is it?")
      return (answer: p.answer)
    }

    module Pair(a: Image, b: Image) -> (same: bool) {
      let compare = Predict(Compare)
      return (same: compare(photos: [a, b]).same)
    }
''')


@pytest.fixture
def program(tmp_path):
    loaded = load_text(PROGRAM, str(tmp_path / "vision.lmp"))
    assert not loaded.errors, loaded.errors
    return loaded.program


@pytest.fixture
def photo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = png(3, 2)
    # The name says JPEG; the content is PNG: the MIME type comes from the content.
    (tmp_path / "cat.jpg").write_bytes(data)
    return data


def serve(srv: FakeServer, history: History | None = None) -> LiteLLM:
    lm = LiteLLM("openai/fake-vision", api_base=srv.url, history=history if history is not None else History(),
                 num_retries=0)
    settings.configure(lm=lm, history=lm.history, cache=False)
    return lm


def user_parts(body: dict) -> list:
    content = body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return content


def test_image_is_sent_as_an_image_content_part(program, photo):
    with FakeServer(answers=[answer(answer="a red rectangle")]) as srv:
        serve(srv)
        out = Interpreter(program).run("Ask", photo="cat.jpg", question="What is this?")
        body = srv.completion_requests()[0].body
    assert out.answer == "a red rectangle"
    parts = user_parts(body)
    images = [p for p in parts if p["type"] == "image_url"]
    assert images == [{"type": "image_url",
                       "image_url": {"url": "data:image/png;base64," + base64.b64encode(photo).decode()}}]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    # The image sits in its field's section, between the header and the next field.
    assert texts[0].strip() == "[[ ## photo ## ]]"
    assert "[[ ## question ## ]]\nWhat is this?" in texts[1]
    assert parts.index(images[0]) == 1


def test_json_adapter_sends_the_image_part_too(program, photo):
    with FakeServer(answers=['{"answer": "red"}']) as srv:
        serve(srv)
        interp = Interpreter(program)
        interp.predictors["AskJson.describe"].options["adapter"] = "json"  # what the optimizer/API may set
        assert interp.run("AskJson", photo="cat.jpg", question="Colour?").answer == "red"
        parts = user_parts(srv.completion_requests()[0].body)
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "Respond with a JSON object" in parts[2]["text"]


def test_url_is_passed_through_and_list_of_images_in_order(program, photo):
    url = "https://example.com/pictures/cat.png?size=large"
    with FakeServer(answers=[answer(answer="a cat"), answer(same="false")]) as srv:
        serve(srv)
        Interpreter(program).run("FromUrl", url=url)
        Interpreter(program).run("Pair", a="cat.jpg", b=url)
        first, second = (r.body for r in srv.completion_requests())
    assert [p for p in user_parts(first) if p["type"] == "image_url"] == [
        {"type": "image_url", "image_url": {"url": url}}]
    urls = [p["image_url"]["url"] for p in user_parts(second) if p["type"] == "image_url"]
    assert len(urls) == 2 and urls[0].startswith("data:image/png;base64,") and urls[1] == url


def test_python_callers_pass_bytes_or_an_image_object(program, photo):
    with FakeServer(answers=[answer(answer="one"), answer(answer="two")]) as srv:
        serve(srv)
        Interpreter(program).run("Ask", photo=photo, question="q")
        Interpreter(program).run("Ask", photo=Image.from_base64(base64.b64encode(photo).decode()), question="q")
        urls = [[p["image_url"]["url"] for p in user_parts(r.body) if p["type"] == "image_url"]
                for r in srv.completion_requests()]
    assert urls[0] == urls[1] and urls[0][0].startswith("data:image/png;base64,")


def test_history_and_its_file_hold_placeholders_not_base64(program, photo, tmp_path):
    history = History(tmp_path / "history.jsonl")
    with FakeServer(answers=[answer(answer="red")]) as srv:
        serve(srv, history)
        Interpreter(program).run("Ask", photo="cat.jpg", question="Colour?")
    encoded = base64.b64encode(photo).decode()
    text = (tmp_path / "history.jsonl").read_text()
    assert encoded not in text and "base64" not in text
    record = history.records()[0]
    user = record.messages[-1]["content"]
    assert isinstance(user, str)
    assert f"<image: cat.jpg, {len(photo)} B, image/png>" in user


def test_local_model_refuses_images_before_any_request(program, photo):
    with FakeServer() as srv:
        lm = LocalLM(url=srv.url)
        settings.configure(lm=lm, cache=False)
        with pytest.raises(LmpRuntimeError) as err:
            Interpreter(program).run("Ask", photo="cat.jpg", question="What is this?")
        assert srv.completion_requests() == []
    message = str(err.value)
    assert "does not accept images" in message and "`photo`" in message and "`Describe`" in message
    assert lm.name in message


def test_vision_param_and_text_models():
    assert accepts_images(LiteLLM("openai/x", api_base="http://127.0.0.1:9/v1", params={"vision": False})) is False
    assert accepts_images(LiteLLM("openai/x", api_base="http://127.0.0.1:9/v1", model_type="text")) is False
    # An unknown self-hosted server: lmp sends the image and lets it decide.
    assert accepts_images(LiteLLM("openai/x", api_base="http://127.0.0.1:9/v1")) is None
    # `vision` is lmp's own setting, never a request field.
    assert "vision" not in LiteLLM("openai/x", params={"vision": True, "temperature": 0}).params


def test_litellm_knows_which_hosted_models_take_images():
    assert accepts_images(LiteLLM("gpt-4o-mini")) is True
    assert accepts_images(LiteLLM("gpt-3.5-turbo")) is False


def test_preview_shows_a_placeholder(program, photo):
    preview = render_preview(program, "Ask.describe", inputs={"photo": "cat.jpg", "question": "q"})
    user = preview.messages[-1]["content"]
    assert isinstance(user, str)
    assert f"[[ ## photo ## ]]\n<image: cat.jpg, {len(photo)} B, image/png>" in user
    assert "base64" not in json.dumps(preview.to_json())
    missing = render_preview(program, "Ask.describe", inputs={"photo": "nope.png", "question": "q"})
    assert "<image: nope.png (not loaded: image 'nope.png' is not a file" in missing.messages[-1]["content"]


def test_cli_input_reads_a_path_relative_to_the_working_directory(program, photo, tmp_path):
    values = parse_assignments(["photo=cat.jpg", "question=hi"], program.modules["Ask"])
    assert isinstance(values["photo"], Image) and values["photo"].data == photo
    with pytest.raises(InputValueError, match=r"-i photo: image 'dog.png' is not a file \(looked at .*dog.png\)"):
        parse_assignments(["photo=dog.png", "question=hi"], program.modules["Ask"])


def test_loading_rules_and_limits(photo, tmp_path, monkeypatch):
    (tmp_path / "notes.png").write_text("not an image at all")
    with pytest.raises(ImageError, match="not a PNG, JPEG, GIF, WebP or BMP image"):
        as_image("notes.png")
    assert as_image(jpeg_header()).mime == "image/jpeg"
    data_uri = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
    assert as_image(data_uri).mime == "image/png"  # declared jpeg, content png
    with pytest.raises(ImageError, match="not valid base64"):
        as_image("data:image/png;base64,@@@")
    monkeypatch.setenv("LMP_IMAGE_MAX_BYTES", "10")
    with pytest.raises(ImageError, match=r"over the 10 B limit \(LMP_IMAGE_MAX_BYTES\)"):
        as_image("cat.jpg")


def test_served_inputs_cannot_name_local_files(photo):
    with no_local_files():
        with pytest.raises(ImageError, match="file paths are not accepted here"):
            as_image("cat.jpg")
        assert as_image("https://example.com/a.png").is_url
    assert as_image("cat.jpg").data == photo


def test_wrong_value_for_an_image_input_names_the_field(program, photo):
    with pytest.raises(LmpRuntimeError, match="input `photo` of Ask: .*expected Image"):
        Interpreter(program).run("Ask", photo=42, question="q")


def test_python_api_takes_lmp_image_or_a_path(photo, tmp_path):
    import lmp

    (tmp_path / "vision.lmp").write_text(PROGRAM)
    prog = lmp.load(tmp_path / "vision.lmp")
    with FakeServer(answers=[answer(answer="red"), answer(answer="still red")]) as srv:
        serve(srv)
        assert prog.Ask(photo=lmp.Image("cat.jpg"), question="q").answer == "red"
        assert prog.Ask(photo=str(tmp_path / "cat.jpg"), question="q").answer == "still red"
        urls = {p["image_url"]["url"] for r in srv.completion_requests() for p in user_parts(r.body)
                if p["type"] == "image_url"}
    assert urls == {"data:image/png;base64," + base64.b64encode(photo).decode()}
    assert lmp.Image("cat.jpg") == lmp.Image(photo)


def test_demos_with_images_show_the_image(program, photo):
    interp = Interpreter(program)
    # A demo as a state file or an `example` holds it: the image's path; one from a bootstrapped trace
    # holds the Image itself.
    interp.predictors["Ask.describe"].demos = [
        {"inputs": {"photo": "cat.jpg", "question": "colour?"}, "outputs": {"answer": "red"}},
        {"inputs": {"photo": Image.from_url("https://example.com/dog.png"), "question": "animal?"},
         "outputs": {"answer": "dog"}},
    ]
    with FakeServer(answers=[answer(answer="a cat")]) as srv:
        serve(srv)
        interp.run("Ask", photo="cat.jpg", question="what?")
        messages = srv.completion_requests()[0].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    demo_urls = [[p["image_url"]["url"] for p in m["content"] if p["type"] == "image_url"] for m in messages[1:4:2]]
    assert demo_urls[0][0].startswith("data:image/png;base64,")
    assert demo_urls[1] == ["https://example.com/dog.png"]


def test_a_server_that_refuses_images_is_reported(program, photo):
    # Unknown to lmp (a self-hosted server): the image is sent, and the server's refusal is the error.
    with FakeServer(vision=False) as srv:
        serve(srv)
        with pytest.raises(Exception, match="does not support image input"):
            Interpreter(program).run("Ask", photo="cat.jpg", question="q")
        assert len(srv.completion_requests()) == 1


def test_cli_run_sends_the_file_named_by_i(photo, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "vision.lmp").write_text(PROGRAM)
    with FakeServer(answers=[answer(answer="a red rectangle")]) as srv:
        env = {**os.environ, "LMP_API_BASE_DEFAULT": srv.url, "OPENAI_API_KEY": "sk-test-not-a-secret",
               "LMP_CACHE_DIR": str(tmp_path / "cache")}
        env.pop("LMP_MODEL_DEFAULT", None)
        proc = subprocess.run(
            [sys.executable, "-m", "lmp", "run", "vision.lmp", "Ask", "-i", "photo=cat.jpg",
             "-i", "question=what is it?", "--model", "default=openai/fake-model", "--no-cache", "--json"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        bodies = [r.body for r in srv.completion_requests()]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"answer": "a red rectangle"}
    urls = [p["image_url"]["url"] for p in user_parts(bodies[0]) if p["type"] == "image_url"]
    assert urls == ["data:image/png;base64," + base64.b64encode(photo).decode()]
    missing = subprocess.run(
        [sys.executable, "-m", "lmp", "run", "vision.lmp", "Ask", "-i", "photo=nope.png", "-i", "question=q",
         "--model", "default=openai/fake-model", "--no-cache"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert missing.returncode == 2 and "-i photo: image 'nope.png' is not a file" in missing.stderr

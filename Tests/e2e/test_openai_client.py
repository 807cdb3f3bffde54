"""The node's OpenAI-compatible API as the official `openai` Python client uses it, and the
HTTP server's behaviour towards odd clients, against node A of the suite (blocks 0-14, the
rest over node B: every generation crosses the swarm wire)."""
import json
import re
import socket
import subprocess
import time

import openai
import pytest
import requests

from conftest import BIN, MODEL, env, requires_default_model

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def api():
    return env("E2E_NODE_A_API")


@pytest.fixture(scope="module")
def client(api):
    # No retries: a refusal must reach the test as the error the server sent.
    return openai.OpenAI(base_url=api + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model(client):
    return client.models.list().data[0].id


def chat(client, model, text="Name a color.", **kwargs):
    if "max_completion_tokens" not in kwargs:
        kwargs.setdefault("max_tokens", 8)
    kwargs.setdefault("temperature", 0)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kwargs)


def test_models_retrieve_names_the_served_model(client, model):
    assert client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError) as refused:
        client.models.retrieve("no-such-model")
    assert refused.value.body["code"] == "model_not_found"


@requires_default_model  # the default model's chat template and text
def test_stop_cuts_the_text_and_finishes_with_stop(client, model):
    free = chat(client, model, max_tokens=12).choices[0]
    words = free.message.content.split()
    assert len(words) >= 2, free.message.content
    stop = " " + words[1]
    stopped = chat(client, model, max_tokens=12, stop=[stop]).choices[0]
    assert stopped.finish_reason == "stop"
    assert stopped.message.content == free.message.content[:free.message.content.index(stop)]


@requires_default_model  # the default model's chat template and text
def test_stop_also_on_the_native_endpoint(api):
    def generate(**parameters):
        answer = requests.post(api + "/api/v1/generate", timeout=120, json={
            "inputs": "1, 2, 3, 4,", "parameters": {"max_new_tokens": 12, "do_sample": False, **parameters}})
        assert answer.status_code == 200, answer.text
        return answer.json()
    free = generate()["generated_text"]
    assert " 6" in free, free
    stopped = generate(stop=[" 6"])
    assert stopped["generated_text"] == free[:free.index(" 6")]
    assert stopped["finish_reason"] == "stop"


@requires_default_model  # the default model's chat template and text
def test_n_gives_that_many_choices_and_max_completion_tokens_bounds_each(client, model):
    answer = chat(client, model, n=3, max_completion_tokens=3, temperature=0.9, seed=7)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert all(c.finish_reason == "length" for c in answer.choices)
    assert answer.usage.completion_tokens == 9


@requires_default_model  # the default model's chat template and text
def test_seed_minus_one_means_random_and_a_seed_repeats(client, model):
    assert chat(client, model, seed=-1, temperature=1).choices[0].message.content is not None
    first = chat(client, model, seed=42, temperature=1, max_tokens=10).choices[0].message.content
    again = chat(client, model, seed=42, temperature=1, max_tokens=10).choices[0].message.content
    assert first == again


@requires_default_model  # the default model's chat template and text
def test_penalties_outside_openai_ranges_are_400_naming_them(client, model):
    for name in ("presence_penalty", "frequency_penalty"):
        with pytest.raises(openai.BadRequestError) as refused:
            chat(client, model, **{name: 2.5})
        assert name in refused.value.message
        assert refused.value.body["param"] == name
    assert chat(client, model, presence_penalty=1.5, frequency_penalty=-0.5).choices[0].message.content


@requires_default_model  # the default model's chat template and text
def test_logprobs_report_each_token_and_its_alternatives(client, model):
    choice = chat(client, model, logprobs=True, top_logprobs=3, max_tokens=5).choices[0]
    entries = choice.logprobs.content
    assert len(entries) == 5
    assert "".join(e.token for e in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert entry.top_logprobs[0].token == entry.token
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6


@requires_default_model  # the default model's chat template and text
def test_content_part_arrays_are_read_as_text(client, model):
    parts = [{"type": "text", "text": "Name a "}, {"type": "text", "text": "color."}]
    as_parts = chat(client, model, text=parts).choices[0].message.content
    assert as_parts == chat(client, model, text="Name a color.").choices[0].message.content
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, model, text=[{"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}])
    assert "image_url" in refused.value.message


def test_completions_take_prompt_lists_token_ids_and_echo(client, model):
    answer = client.completions.create(model=model, prompt=["1, 2, 3,", "a, b, c,"], max_tokens=3, temperature=0)
    assert len(answer.choices) == 2
    as_text = answer.choices[0].text
    # The prompt's token ids as the CLI's own tokenizer gives them.
    out = subprocess.run([BIN, "generate", "--model", MODEL, "--prompt", "1, 2, 3,", "--max-new-tokens", "1",
                          "--token-ids", "--quiet", "--threads", "1"], capture_output=True, text=True, timeout=300,
                         check=True)
    ids = json.loads(re.search(r"prompt ids: (\[.*\])", out.stderr).group(1))
    by_ids = client.completions.create(model=model, prompt=ids, max_tokens=3, temperature=0)
    assert by_ids.choices[0].text == as_text
    echoed = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=3, temperature=0, echo=True)
    assert echoed.choices[0].text == "1, 2, 3," + as_text


def test_unsupported_parameters_are_400_naming_the_parameter(client, model):
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    cases = [
        ("tools", dict(tools=[tool])),
        ("response_format", dict(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}})),
        ("parallel_tool_calls", dict(extra_body={"parallel_tool_calls": True})),
        ("unknown_knob", dict(extra_body={"unknown_knob": 1})),
    ]
    for name, kwargs in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            chat(client, model, **kwargs)
        assert refused.value.body["param"] == name, refused.value.body
        assert name in refused.value.message


def test_embeddings_answer_a_clear_error(client, model):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=model, input="hello")
    assert "embeddings" in refused.value.message


@requires_default_model  # the default model's chat template and text
def test_a_request_too_long_for_the_route_is_400_before_streaming_and_bans_nobody(client, model, api):
    long_text = "word " * 1500  # about 1500 tokens: with max_tokens 1000 over the 2048 a session may hold
    with pytest.raises(openai.BadRequestError) as refused:
        stream = chat(client, model, text=long_text, max_tokens=1000, stream=True)
        list(stream)
    assert "2048" in refused.value.message, refused.value.message
    # No server was banned for it: the next ordinary request is served at once.
    started = time.monotonic()
    assert chat(client, model).choices[0].message.content
    assert time.monotonic() - started < 30


@requires_default_model  # the default model's chat template and text
def test_streams_arrive_chunk_by_chunk_with_usage(client, model):
    chunks = list(chat(client, model, stream=True, max_tokens=6, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == chat(client, model, max_tokens=6).choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 6


# ---------------------------------------------------------------- the HTTP server itself


def test_head_health_wrong_methods_and_unknown_paths(api):
    assert requests.head(api + "/health", timeout=10).status_code == 200
    wrong = requests.post(api + "/health", timeout=10)
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    assert "error" in wrong.json()
    missing = requests.get(api + "/no/such/path", timeout=10)
    assert missing.status_code == 404
    assert "error" in missing.json()
    assert requests.get(api + "/v1/nothing", timeout=10).json()["error"]["type"] == "invalid_request_error"


def test_http10_without_keep_alive_is_closed_after_the_reply(api):
    host, port = api.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            piece = s.recv(4096)  # ends (b"") only when the server closes
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.") and b"200" in data.split(b"\r\n")[0]
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["status"] == "ok"

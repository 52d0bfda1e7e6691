"""Files judged as their loaders read them: real Keras, HDF5, torch, joblib, GGUF and ONNX files.

Each hostile file is a real file written by its library with the one change
that makes its loader run code or read the host; each benign one is what the
library writes for an ordinary model, and loads with that library. Hostile
files are refused in both modes, with the same reason, by `verify` and
`import`, changing nothing (tests/test_hostile_corpus.py `refused`).
"""

from __future__ import annotations

import io
import json
import os
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import vault
from tests import contentcorpus as cc
from tests import realfiles as rf
from tests.conftest import KeyPair, make_home, run, run_json, snapshot
from tests.forge import forge_bundle
from tests.test_hostile_corpus import refused, refused_in_both_modes

Files = Callable[[], dict[str, bytes]]

TFSM = {
    "module": "keras.layers",
    "class_name": "TFSMLayer",
    "registered_name": None,
    "config": {"name": "outside", "filepath": "/srv/models/other", "call_endpoint": "serve"},
}
LOOKUP = {
    "module": "keras.layers",
    "class_name": "StringLookup",
    "registered_name": None,
    "config": {"name": "lookup", "vocabulary": "/etc/passwd", "mask_token": None},
}
VECTORIZE = {
    "module": "keras.layers",
    "class_name": "TextVectorization",
    "registered_name": None,
    "config": {"name": "vec", "vocabulary": "/home/user/.ssh/id_rsa"},
}

DIRECTIVE_YAML = b"%YAML 1.3\n---\nmodel:\n  cb: {_target_: os.system}\n"
BENIGN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s."  # pickle.dumps({"w": 1}, 2)

# (label, files, the reason given in both modes)
HOSTILE: list[tuple[str, Files, str]] = [
    ("keras TFSMLayer loading an outside SavedModel", lambda: {"model.keras": rf.keras_with_layer(TFSM)},
     "TFSMLayer (it loads a model from outside the file)"),
    ("keras StringLookup vocabulary at a host path", lambda: {"model.keras": rf.keras_with_layer(LOOKUP)},
     "the path '/etc/passwd' (the layer reads it from the host)"),
    ("keras TextVectorization vocabulary at a host path",
     lambda: {"model.keras": rf.keras_with_layer(VECTORIZE)}, "reads it from the host"),
    ("keras loss naming a dotted function",
     lambda: {"model.keras": rf.keras_with_loss({"module": "builtins", "class_name": "function",
                                                 "config": "os.system", "registered_name": "function"})},
     "a function object (it runs code on load)"),
    ("keras loss from a module outside keras",
     lambda: {"model.keras": rf.keras_with_loss({"module": "subprocess", "class_name": "function",
                                                 "config": "run", "registered_name": "run"})},
     "a function object"),
    ("keras weights with an external link", lambda: {"model.keras": rf.keras_with_weights(rf.external_link)},
     "model.keras:model.weights.h5: HDF5 external link"),
    ("keras weights stored in a host file",
     lambda: {"model.keras": rf.keras_with_weights(rf.external_storage)},
     "is stored in outside files ['/etc/passwd']"),
    ("keras weights with a virtual dataset",
     lambda: {"model.keras": rf.keras_with_weights(rf.virtual_dataset)}, "is virtual"),
    ("keras weights declaring 4 TiB", lambda: {"model.keras": rf.keras_with_weights(rf.huge_declared)},
     "declares 4398046511104 bytes but stores 0"),
    ("keras weights npz declaring 4 TiB",
     lambda: {"model.keras": rf.rebuild_zip(rf.keras_archive(),
                                            {"model.weights.npz": rf.npy_declaring((1 << 40,))})},
     "model.keras:model.weights.npz"),
    ("keras archive with a member inflating to 512 MiB",
     lambda: {"model.keras": rf.zip_bomb_member(rf.keras_archive(), "assets/blob", 512 << 20)},
     "(a zip bomb)"),
    ("keras archive hiding a pickle",
     lambda: {"model.keras": rf.rebuild_zip(rf.keras_archive(), {"assets/state.pkl": cc.evil_pickle()})},
     "not on the allow-list"),
    ("keras weights with a config nested 100000 deep",
     lambda: {"model.keras": rf.keras_with_weights(rf.deep_attribute)}, "nested too deeply to check"),
    ("h5 with an external link", lambda: {"model.h5": rf.h5_file(rf.external_link)}, "HDF5 external link"),
    ("h5 stored in a host file, named .bin", lambda: {"tf_model.bin": rf.h5_file(rf.external_storage)},
     "stored in outside files"),
    ("h5 with a virtual dataset", lambda: {"weights.h5": rf.h5_file(rf.virtual_dataset)}, "is virtual"),
    ("h5 declaring 4 TiB", lambda: {"weights.h5": rf.h5_file(rf.huge_declared)}, "declares 4398046511104"),
    # Polyglots: a well-formed file with room for a second one, read the way torch.load and zipfile read.
    ("gguf with a torch checkpoint appended",
     lambda: {"m.gguf": rf.gguf_model() + cc.torch_zip(cc.evil_pickle(2))},
     "readers disagree on where its members are"),
    ("h5 with a torch checkpoint appended",
     lambda: {"weights.h5": rf.h5_file(lambda f: None) + cc.torch_zip(cc.evil_pickle(2))},
     "readers disagree on where its members are"),
    ("gguf with a keras archive appended",
     lambda: {"m.gguf": rf.gguf_model() + rf.keras_with_layer(TFSM)}, "readers disagree"),
    # Found by an outside attack (round four): each is the class, not the case.
    ("joblib's legacy zfile, named as ONNX external data",
     lambda: {"model.onnx": cc.onnx_model("model.joblib"),
              "model.joblib": rf.joblib_zfile(cc.evil_pickle(2))},
     "not on the allow-list"),
    ("a binary ONNX names, under a name a loader opens by",
     lambda: {"model.onnx": cc.onnx_model("state.pkl"), "state.pkl": bytes(range(256)) * 16},
     "no format vault can check"),
    ("a pickle split across two bz2 streams", lambda: {"state.bz2": rf.two_streams("bz2")},
     "not on the allow-list"),
    ("a pickle split across two xz streams", lambda: {"state.xz": rf.two_streams("xz")},
     "not on the allow-list"),
    ("a pickle split across two gzip members", lambda: {"state.gz": rf.two_streams("gzip")},
     "not on the allow-list"),
    ("a gzip member followed by bytes that do not decompress",
     lambda: {"notes.gz": cc.gzip_of(b"plain\n") + b"\x00garbage"},
     "followed by bytes that do not decompress"),
    ("a SavedModel in text form", lambda: {"tf/saved_model.pbtxt": b'saved_model_schema_version: 1\n'},
     "a SavedModel in text form"),
    ("a torch zip whose data.pkl name hides behind a NUL", lambda: {"model.pt": rf.nul_named_torch_zip()},
     "has a NUL in its name"),
    ("a torch zip with DATA.PKL beside data.pkl", lambda: {"model.pt": rf.case_twin_torch_zip()},
     "differs from another member only in case"),
    ("gguf with a NUL at the end of a key", lambda: {"m.gguf": rf.gguf_nul_key()},
     "without NUL or control characters"),
    ("keras model saved as a folder, with a Lambda layer",
     lambda: {"keras/config.json": json.dumps(cc.LAMBDA_KERAS).encode(),
              "keras/model.weights.h5": rf.keras_weights(),
              "keras/metadata.json": b'{"keras_version": "3.15.1"}'}, "a Lambda object"),
    # Round five: found by a second outside attack.
    ("a pickle with no magic that leaves its stack non-empty",
     lambda: {"model.joblib": b"I0\ncposix\nsystem\n(S'echo pwned'\ntR."}, "imports posix.system"),
    ("a pickle with no magic that writes a memo slot twice",
     lambda: {"pytorch_model.bin": b"cposix\nsystem\np0\n(S'echo pwned'\np0\ntR."}, "imports posix.system"),
    ("a .npy that is also an old-style tar", lambda: {"weights.npy": rf.npy_that_is_a_tar(cc.evil_pickle(2))},
     "not on the allow-list"),
    ("joblib's lzma (alone) format", lambda: {"model.joblib": rf.lzma_alone(cc.evil_pickle())},
     "not on the allow-list"),
    ("a JSON chat_template.jinja", lambda: {"chat_template.jinja": json.dumps(
        {"note": "{{ self.__init__.__globals__.__builtins__.__import__('os').system('id') }}"}).encode()},
     "chat template reaches"),
    ("a template that reaches builtins through a generator's frame",
     lambda: {"chat_template.jinja": b"{{ (messages|select).gi_frame.f_builtins.exec('x') }}"},
     "chat template reaches"),
    ("Hydra YAML behind a directive libyaml refuses",
     lambda: {"model.nemo": cc.tar_of({"model_config.yaml": DIRECTIVE_YAML,
                                       "w.safetensors": cc.safetensors_file()})},
     "runs code when loaded"),
    ("a torch zip laid over a benign one",
     lambda: {"model.pt": cc.torch_zip(cc.evil_pickle(2)) + cc.torch_zip(BENIGN_PICKLE)},
     "readers disagree on where its members are"),
    ("keras folder whose lookup reads a host path",
     lambda: {"keras/config.json": rf.keras_config_bytes(LOOKUP),
              "keras/model.weights.h5": rf.keras_weights()},
     "reads it from the host"),
]  # fmt: skip

# (label, files, the reference reader that loads it)
BENIGN: list[tuple[str, Files, Callable[[dict[str, bytes]], None]]] = [
    ("keras archive of a compiled model (builtins loss and metric)",
     lambda: {"model.keras": rf.keras_archive()}, lambda f: rf.load_keras(f["model.keras"], ".keras")),
    ("keras legacy h5", lambda: {"model.h5": rf.keras_h5()}, lambda f: rf.load_keras(f["model.h5"], ".h5")),
]  # fmt: skip


@pytest.mark.parametrize(("label", "files", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_for_the_same_reason_in_both_modes(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: Files, reason: str
) -> None:
    bundle = forge_bundle(tmp_path / "w.vault", keypair.private, {"config.json": b"{}", **files()})
    refused_in_both_modes(gap, bundle, reason)


@pytest.mark.parametrize(("label", "files", "load"), BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_files_load_and_are_admitted(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: Files, load: Callable
) -> None:
    made = files()
    load(made)
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, {"config.json": b"{}", **made})
    assert run_json("verify", bundle, home=gap)["status"] == "verified"
    assert run_json("import", bundle, home=gap)["status"] == "imported"


# -- chat templates: Jinja programs, parsed as every loader parses them --------------------------

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
TOOLS = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}{{- tool | tojson }}"
    "{%- endfor %}{%- endif %}{%- set ns = namespace(last_user=0) %}{%- for message in messages %}"
    "{%- if message.role == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}"
    "{%- if message.tool_calls is defined %}{%- for call in message.tool_calls %}"
    "{{- call.function.arguments | tojson }}{%- endfor %}{%- endif %}"
    "{%- if messages[loop.index0 - 1] is defined and loop.last %}{{- messages[1:] | length }}{%- endif %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
ALTERNATE = (
    "{{ bos_token }}{% for message in messages[1:] %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}"
    "{{ message['content'] }}{% endfor %}"
)
BENIGN_TEMPLATES = [CHATML, LLAMA3, TOOLS, ALTERNATE]

HOSTILE_TEMPLATES: list[tuple[str, str, str]] = [
    ("globals through self (CVE-2024-34359)",
     "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}", "private attribute"),
    ("globals through cycler", "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
     "private attribute"),
    ("attr filter with escapes", "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", "'attr' filter"),
    ("dunder through map", "{{ messages|map(attribute='__class__')|list }}", "naming '__class__'"),
    ("attr filter", "{{ messages|attr(name) }}", "'attr' filter"),
    ("format method on a built string", "{{ ('{0.%sclass%s}' % ('_' * 2, '_' * 2)).format(messages) }}",
     ".format() call"),
    ("format filter", "{{ '%s'|format(messages) }}", "'format' filter"),
    ("include of a host file", "{% include '/etc/passwd' %}", "include of another template"),
    ("import of a host template", "{% import '/srv/macros.j2' as m %}{{ m.x() }}", "import of another"),
    ("subscript spelled in pieces", "{{ messages[('_' * 2) ~ 'class' ~ ('_' * 2)] }}",
     "computed from strings"),
    ("private name", "{{ _private }}", "private name"),
    ("not a template", "{% for m in messages %}", "not a template Jinja parses"),
    ("globals through map(attribute=) spelled in pieces",
     "{% set u='_'*2 %}{{ ([lipsum]|map(attribute=u~'globals'~u)|first).os.system('id') }}",
     "computed argument"),
    ("attr through map", "{{ [x]|map('attr', 'y')|list }}", "naming 'attr'"),
    ("selectattr with a computed name", "{{ messages|selectattr(n)|list }}", "computed argument"),
    ("sort by a computed attribute", "{{ messages|sort(attribute=k) }}", "computed argument"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "template", "reason"), HOSTILE_TEMPLATES, ids=[t[0] for t in HOSTILE_TEMPLATES]
)
def test_a_chat_template_that_reaches_past_a_sandbox_is_refused_wherever_it_is(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, template: str, reason: str
) -> None:
    """In tokenizer_config.json, in chat_template.jinja and in a GGUF: no flag admits it."""
    homes = {
        "tokenizer_config.json": {"tokenizer_config.json": json.dumps({"chat_template": template}).encode()},
        "named templates": {"tokenizer_config.json": json.dumps({"chat_template": [
            {"name": "default", "template": CHATML}, {"name": "tool_use", "template": template}]}).encode()},
        "chat_template.jinja": {"chat_template.jinja": template.encode()},
        "gguf": {"m.gguf": rf.gguf_model(template=template)},
    }  # fmt: skip
    for where, files in homes.items():
        bundle = forge_bundle(tmp_path / f"{where}.vault", keypair.private, {"config.json": b"{}", **files})
        refused(gap, bundle, reason)
        refused(
            gap, bundle, reason, "--allow-pickle", "--allow-unknown-format", "--allow-code", next(iter(files))
        )


@pytest.mark.parametrize("template", BENIGN_TEMPLATES, ids=["chatml", "llama3", "tools", "alternate"])
def test_chat_templates_the_field_writes_render_and_are_admitted(
    gap: Path, keypair: KeyPair, tmp_path: Path, template: str
) -> None:
    assert "<|" in rf.render_template(template) or "hello" in rf.render_template(template)
    files = {
        "tokenizer_config.json": json.dumps({"chat_template": template, "bos_token": "<s>"}).encode(),
        "chat_template.jinja": template.encode(),
        "m.gguf": rf.gguf_model(template=template),
    }
    rf.load_gguf(files["m.gguf"])
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, {"config.json": b"{}", **files})
    assert run_json("import", bundle, home=gap)["status"] == "imported"
    assert not [f for f in run_json("show", "acme/tiny", home=gap)["files"] if f["runs_code"]]


# -- GGUF metadata against what it describes -------------------------------------------------------

HOSTILE_GGUF: list[tuple[str, Callable[[], bytes], str]] = [
    ("bos token id past the vocabulary", lambda: rf.gguf_model(bos=8),
     "tokenizer.ggml.bos_token_id: expected a token id below the vocabulary's size (8), found 8"),
    ("token scores declared int32", lambda: rf.gguf_model(int_scores=True),
     "tokenizer.ggml.scores: expected an array of float32"),
    ("block_count past the blocks present", lambda: rf.gguf_model(block_count=40),
     "llama.block_count: expected 40, the blk.N blocks present"),
    ("embedding_length unlike the embedding", lambda: rf.gguf_model(embedding_length=4096),
     "llama.embedding_length: expected token_embd.weight's first dimension 32"),
    ("zero attention heads", lambda: rf.gguf_model(heads=0), "head_count: expected a positive count"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "made", "reason"), HOSTILE_GGUF, ids=[g[0] for g in HOSTILE_GGUF])
def test_gguf_metadata_that_contradicts_its_tensors_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, made: Callable[[], bytes], reason: str
) -> None:
    data = made()
    rf.load_gguf(data)  # the reference reader parses it: only the metadata's meaning is wrong
    bundle = forge_bundle(tmp_path / "g.vault", keypair.private, {"config.json": b"{}", "m.gguf": data})
    refused_in_both_modes(gap, bundle, reason)


# -- model code: refused by default, admitted only by naming each file ------------------------------

AUTO_MAP = {"AutoModel": "modeling_tiny.TinyModel", "AutoTokenizer": ["tokenization_tiny.Tok", None]}
PIPELINES = {"text-classification": {"impl": "pipe.MyPipe"}}
CODE_LAYOUTS: list[tuple[str, Callable[[], dict[str, bytes]], list[str]]] = [
    ("auto_map and its module",
     lambda: {"config.json": json.dumps({"auto_map": AUTO_MAP}).encode(),
              "modeling_tiny.py": b"import torch\n", "tokenization_tiny.py": b"class Tok: ...\n"},
     ["config.json", "modeling_tiny.py", "tokenization_tiny.py"]),
    ("custom pipeline",
     lambda: {"config.json": json.dumps({"custom_pipelines": PIPELINES}).encode(), "pipe.py": b"x = 1\n"},
     ["config.json", "pipe.py"]),
    ("inference endpoint handler", lambda: {"handler.py": b"class EndpointHandler: ...\n"}, ["handler.py"]),
    ("Hydra YAML", lambda: {"conf/model.yaml": b"model:\n  _target_: my.module.Model\n  size: 3\n"},
     ["conf/model.yaml"]),
    ("NeMo archive", lambda: {"model.nemo": cc.tar_of({
        "model_config.yaml": b"encoder:\n  _target_: nemo.collections.asr.modules.ConformerEncoder\n",
        "model_weights.safetensors": cc.safetensors_file()})}, ["model.nemo"]),
    ("sentence-transformers module of its own",
     lambda: {"modules.json": json.dumps([{"idx": 0, "path": "", "type": "custom_st.Module"}]).encode(),
              "custom_st.py": b"class Module: ...\n"},
     ["custom_st.py", "modules.json"]),
    ("diffusers component from another library",
     lambda: {"model_index.json": json.dumps({"_class_name": "Pipe", "_diffusers_version": "0.30.0",
                                              "unet": ["diffusers", "UNet2DConditionModel"],
                                              "extra": ["my_components", "Extra"]}).encode()},
     ["model_index.json"]),
    ("Hydra YAML with a flow mapping",
     lambda: {"model_config.yaml": b"model: {_target_: pathlib.Path.touch, _args_: [/tmp/x]}\n"},
     ["model_config.yaml"]),
    ("Hydra YAML with an escaped key", lambda: {"conf.yaml": b'model:\n  "_targe\\x74_": os.system\n'},
     ["conf.yaml"]),
    ("Hydra YAML with a complex key", lambda: {"conf.yaml": b"model:\n  ? _target_\n  : os.system\n"},
     ["conf.yaml"]),
    ("ModelScope plugins",
     lambda: {"configuration.json": b'{"framework": "pytorch", "plugins": ["x-plugin"]}'},
     ["configuration.json"]),
]  # fmt: skip


@pytest.mark.parametrize(("label", "made", "code"), CODE_LAYOUTS, ids=[c[0] for c in CODE_LAYOUTS])
def test_code_is_refused_by_default_and_admitted_only_by_naming_each_file(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, made: Callable, code: list[str]
) -> None:
    files = {"config.json": b"{}", **made()}
    bundle = forge_bundle(tmp_path / "c.vault", keypair.private, files)
    refused(gap, bundle, "runs code when loaded")
    refused(gap, bundle, "runs code when loaded", "--allow-pickle", "--allow-unknown-format")
    for command in ("verify", "import"):
        assert "--allow" not in run(command, bundle, home=gap, code=1).stderr  # never suggests the override
    if len(code) > 1:  # naming some of them is not enough
        refused(
            gap,
            bundle,
            f"{code[-1]}: runs code when loaded",
            *[a for c in code[:-1] for a in ("--allow-code", c)],
        )
    named = [a for c in code for a in ("--allow-code", c)]
    assert run_json("verify", bundle, *named, home=gap)["status"] == "verified"
    assert run_json("import", bundle, *named, home=gap)["status"] == "imported"
    shown = run_json("show", "acme/tiny", home=gap)["files"]
    assert sorted(f["path"] for f in shown if f["runs_code"]) == code
    text = run("show", "acme/tiny", home=gap).stdout
    assert all(f"runs code: {c} (" in text for c in code), text
    event = next(e for e in run_json("audit", home=gap)["events"] if e["action"] == "import")
    assert event["detail"]["allow_code"] == sorted(code)
    assert event["detail"]["code_files"] == [f"acme/tiny@{'c' * 40}:{c}" for c in code]


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"auto_map": {"AutoModel": "evil/repo--modeling.Model"}}, "names code in another repository"),
        (
            {"auto_map": {"AutoModel": "modeling_absent.Model"}},
            "modeling_absent.py, which is not a file signed",
        ),
        ({"auto_map": {"AutoModel": "modeling.sub.Model"}}, "is not module.Class"),
        ({"auto_map": ["modeling.Model"]}, "auto_map is not an object"),
    ],
    ids=["another repository", "module not shipped", "dotted module", "not an object"],
)
def test_an_auto_map_that_reaches_outside_the_revision_is_refused_even_when_named(
    gap: Path, keypair: KeyPair, tmp_path: Path, config: dict, reason: str
) -> None:
    files = {"config.json": json.dumps(config).encode(), "modeling.py": b"x = 1\n"}
    bundle = forge_bundle(tmp_path / "m.vault", keypair.private, files)
    refused(gap, bundle, reason, "--allow-code", "config.json", "--allow-code", "modeling.py")


ST = "sentence_transformers.models."


def test_the_libraries_own_module_lists_run_no_code(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """What sentence-transformers and diffusers write for their own classes is data."""
    files = {
        "modules.json": json.dumps([{"idx": 0, "path": "", "type": f"{ST}Transformer"},
                                    {"idx": 1, "path": "1_Pooling", "type": f"{ST}Pooling"}]).encode(),
        "model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline",
                                        "_diffusers_version": "0.30.0",
                                        "unet": ["diffusers", "UNet2DConditionModel"],
                                        "text_encoder": ["transformers", "CLIPTextModel"],
                                        "safety_checker": [None, None]}).encode(),
    }  # fmt: skip
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, {"config.json": b"{}", **files})
    assert run_json("import", bundle, home=gap)["status"] == "imported"


def test_add_admits_named_code_and_the_catalog_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "modeling_x.M"}}))
    (folder / "modeling_x.py").write_text("class M: ...\n")
    home = tmp_path / "h"
    make_home(home)
    before = snapshot(home)
    res = run("add", folder, "--repo", "acme/code", home=home, code=1)
    assert "config.json: runs code when loaded (auto_map names code to import)" in res.stderr
    assert snapshot(home) == before
    with vault.open_vault(home) as v:
        added = v.add(folder, "acme/code", allow_code=["config.json", "modeling_x.py"])
        detail = v.show("acme/code")
        server = v.server(port=0, log_requests=False)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/ui/revision/acme/code/{added.commit}"
            with urllib.request.urlopen(url, timeout=30) as response:
                page = response.read().decode()
        finally:
            server.shutdown()
            server.server_close()
    assert {f.path: bool(f.runs_code) for f in detail.files} == {"config.json": True, "modeling_x.py": True}
    assert "runs code: modeling_x.py (Python source" in run("show", "acme/code", home=home).stdout
    assert page.count("runs code") >= 3 and "auto_map names code to import" in page  # a banner and each file


# -- TensorFlow SavedModels: every op on the allow-list ---------------------------------------------

HOSTILE_SAVEDMODELS = [
    ("read_file", "op 'ReadFile', which is not on vault's allow-list"),
    ("write_file", "op 'WriteFile', which is not on vault's allow-list"),
    ("py_function", "op 'EagerPyFunc', which is not on vault's allow-list"),
    ("save_in_serving", "the checkpoint op 'SaveV2' outside a save/restore function"),
]


@pytest.mark.parametrize(("kind", "reason"), HOSTILE_SAVEDMODELS, ids=[k for k, _r in HOSTILE_SAVEDMODELS])
def test_a_savedmodel_running_an_op_off_the_allow_list_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, kind: str, reason: str
) -> None:
    files = {f"tf/{p}": data for p, data in rf.tf_saved_model(kind).items()}
    bundle = forge_bundle(tmp_path / "tf.vault", keypair.private, {"config.json": b"{}", **files})
    refused(gap, bundle, "tf/saved_model.pb: TensorFlow SavedModel function")
    refused(gap, bundle, reason, "--allow-pickle")


def test_a_savedmodel_of_allowed_ops_is_admitted_with_its_variables(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    made = rf.tf_saved_model()
    assert rf.saved_model_output() == [[4.0, 4.0]]  # TensorFlow loaded it back and ran it
    files = {f"tf/{p}": data for p, data in made.items()}
    bundle = forge_bundle(tmp_path / "tf.vault", keypair.private, {"config.json": b"{}", **files})
    assert run_json("import", bundle, home=gap)["status"] == "imported"
    # Its variables are raw data only beside it: the same bytes alone are a binary of no format.
    index = {"config.json": b"{}", "variables/variables.index": made["variables/variables.index"]}
    alone = forge_bundle(tmp_path / "v.vault", keypair.private, index, repo_id="acme/alone")
    refused(gap, alone, "no format vault can check")


@pytest.mark.parametrize("kind", ["keras_lstm", "keras_gru_gelu", "keras_cnn"])
def test_what_keras_exports_for_serving_is_admitted(
    gap: Path, keypair: KeyPair, tmp_path: Path, kind: str
) -> None:
    """Keras 3's model.export (TensorFlow): recurrent layers' tensor lists, gelu's Erfc, a CNN."""
    files = {f"tf/{p}": data for p, data in rf.tf_saved_model(kind).items()}
    bundle = forge_bundle(tmp_path / "k.vault", keypair.private, {"config.json": b"{}", **files})
    assert run_json("import", bundle, home=gap)["status"] == "imported"


def test_a_protobuf_is_judged_as_every_format_it_parses_as(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """A SavedModel named .onnx, and ONNX named saved_model.pb: each name announces what the bytes are not."""
    sm = rf.tf_saved_model()["saved_model.pb"]
    for files, reason in (
        ({"model.onnx": sm}, "named .onnx but the bytes are savedmodel"),
        ({"saved_model.pb": cc.onnx_model()}, "named saved_model.pb but the bytes are onnx"),
    ):
        bundle = forge_bundle(tmp_path / "p.vault", keypair.private, {"config.json": b"{}", **files})
        refused(gap, bundle, reason)


# -- pickles from torch and joblib: what torch.load(weights_only=True) admits, and no more ----------


def _torch_fields() -> dict[str, object]:
    import torch

    return {"size": torch.Size([2, 3]), "device": torch.device("cpu"), "seen": {1, 2}, "raw": b"\x00\xff"}


BENIGN_PICKLES: list[tuple[str, Callable[[], bytes], Callable[[bytes], object]]] = [
    ("torch state dict (zip)", lambda: rf.torch_saved({"w": __import__("torch").ones(2, 3)}), rf.torch_load),
    ("torch state dict (legacy)", lambda: rf.torch_saved({"w": __import__("torch").ones(2)}, legacy=True),
     rf.torch_load),
    ("torch.Size, torch.device, a set and bytes", lambda: rf.torch_saved(_torch_fields()), rf.torch_load),
    ("numpy arrays through torch's safe globals",
     lambda: rf.torch_saved({"a": np.arange(3), "b": np.ones(2, np.float32)}), rf.torch_load),
    ("joblib of plain values", lambda: rf.joblib_dumped({"n": 3, "names": ["a", "b"]}), rf.joblib_load),
    ("joblib compressed", lambda: rf.joblib_dumped({"n": 3}, compress=3), rf.joblib_load),
    ("joblib lzma", lambda: rf.joblib_dumped({"n": 3}, compress=("lzma", 3)), rf.joblib_load),
]  # fmt: skip


@pytest.mark.parametrize(("label", "made", "load"), BENIGN_PICKLES, ids=[b[0] for b in BENIGN_PICKLES])
def test_pickles_the_loaders_admit_are_admitted_under_allow_pickle(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, made: Callable, load: Callable
) -> None:
    data = made()
    load(data)
    bundle = forge_bundle(tmp_path / "p.vault", keypair.private, {"config.json": b"{}", "weights.bin": data})
    refused(gap, bundle, "unpickles when loaded (it can run code) and is refused by default")
    assert run_json("import", bundle, "--allow-pickle", home=gap)["status"] == "imported"


def _reduce_then_garbage() -> bytes:
    """os.system runs at REDUCE; pickle.load meets the malformed tail only after it ran."""
    import pickle

    evil = pickle.dumps(cc.Exec(os.system, "echo pwned"), protocol=2)
    return evil[:-1] + b"\xff\xfe not a pickle any more"


HOSTILE_PICKLES: list[tuple[str, Callable[[], bytes], str]] = [
    ("torch.save of a call", lambda: rf.torch_saved(cc.Exec(os.system, "echo pwned")),
     "not on the allow-list"),
    ("joblib.dump of a call", lambda: rf.joblib_dumped(cc.Exec(os.system, "echo pwned")),
     "not on the allow-list"),
    ("joblib with embedded arrays", lambda: rf.joblib_dumped({"w": np.arange(5.0)}),
     "a joblib file with array bytes embedded in its pickle stream"),
    ("joblib with embedded arrays, compressed", lambda: rf.joblib_dumped({"w": np.arange(5.0)}, compress=3),
     "a joblib file with array bytes embedded in its pickle stream"),
    ("REDUCE before a malformed tail", _reduce_then_garbage, f"imports {os.system.__module__}.system"),
    ("torch zip whose pickle REDUCEs before a malformed tail", lambda: cc.torch_zip(_reduce_then_garbage()),
     f"imports {os.system.__module__}.system"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "made", "reason"), HOSTILE_PICKLES, ids=[h[0] for h in HOSTILE_PICKLES])
def test_pickles_that_run_code_or_cannot_be_scanned_are_refused_for_one_reason(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, made: Callable, reason: str
) -> None:
    bundle = forge_bundle(tmp_path / "p.vault", keypair.private, {"config.json": b"{}", "model.bin": made()})
    refused_in_both_modes(gap, bundle, reason)


def test_onnx_external_data_in_a_subfolder_is_judged_by_content(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """`weights/w.bin` written by onnx's own external-data saver: raw floats, admitted by default."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(1024, dtype=np.float32), "w")
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1024])
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [output], [weight])
    model = helper.make_model(graph)
    out = tmp_path / "made"
    (out / "weights").mkdir(parents=True)  # onnx's saver writes into the folder, it does not make it
    onnx.save_model(model, str(out / "model.onnx"), save_as_external_data=True, location="weights/w.bin",
                    size_threshold=0)  # fmt: skip
    onnx.load_model(str(out / "model.onnx"))  # the reference reader follows the location
    files = {f"onnx/{p.relative_to(out).as_posix()}": p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert set(files) == {"onnx/model.onnx", "onnx/weights/w.bin"}
    bundle = forge_bundle(tmp_path / "o.vault", keypair.private, {"config.json": b"{}", **files})
    assert run_json("import", bundle, home=gap)["status"] == "imported"
    # The same name holding a pickle is a pickle: content decides, in both directions.
    files["onnx/weights/w.bin"] = cc.evil_pickle()
    bundle = forge_bundle(
        tmp_path / "e.vault", keypair.private, {"config.json": b"{}", **files}, repo_id="acme/e"
    )
    refused(gap, bundle, "not on the allow-list")


def test_a_text_too_large_to_parse_is_judged_by_what_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the parse bound (256 MiB; 1 MiB here) a text that a loader reads for code, or that holds what
    makes a loader run code, is refused; plain data stays text."""
    from vault._checks import loader_code
    from vault._checks.content import Content, check_content
    from vault.errors import UnsafeContentError

    monkeypatch.setattr(loader_code, "MAX_JSON_BYTES", 1 << 20)
    pad = "x" * (2 << 20)

    def judged(name: str, text: str) -> str:
        data = text.encode()
        try:
            return check_content(name, Content(len(data), lambda: io.BytesIO(data))).kind.value
        except UnsafeContentError as exc:
            return str(exc)

    template = json.dumps({"chat_template": HOSTILE_TEMPLATES[0][1], "pad": pad})
    assert "too large to check" in judged("tokenizer_config.json", template)
    assert "holds 'chat_template'" in judged("notes.txt", template)
    assert "holds 'auto_map'" in judged(
        "data.txt", json.dumps({"auto_map": {"A": "evil/r--m.C"}, "pad": pad})
    )
    assert "holds '_target_'" in judged("big.txt", f"model:\n  _target_: os.system\n# {pad}\n")
    assert judged("corpus.txt", pad) == "text"


def test_a_malformed_component_list_is_a_refusal_not_a_crash(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    index = {
        "_class_name": "P",
        "_diffusers_version": "0.30.0",
        "unet": [["diffusers"], "UNet2DConditionModel"],
    }
    bundle = forge_bundle(tmp_path / "d.vault", keypair.private,
                          {"config.json": b"{}", "model_index.json": json.dumps(index).encode()})  # fmt: skip
    refused(gap, bundle, "model_index.json: runs code when loaded (diffusers imports the component libraries")


def test_a_refusal_names_a_huge_module_briefly(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """A Keras `module` can be a whole base64 pickle (TorchModuleWrapper): the line stays one short line."""
    layer = {
        "module": "A" * 100_000,
        "class_name": "TorchModuleWrapper",
        "config": {},
        "registered_name": None,
    }
    bundle = forge_bundle(tmp_path / "k.vault", keypair.private,
                          {"config.json": b"{}", "model.keras": rf.keras_with_layer(layer)})  # fmt: skip
    err = run("import", bundle, home=gap, code=1).stderr
    assert "(100000 characters) (loading imports it)" in err and len(err) < 400, err

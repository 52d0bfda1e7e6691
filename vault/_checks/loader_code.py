"""Text that makes a loader run code: auto_map, custom pipelines, Hydra targets, plugins, chat templates.

A revision's "text" files are not all data. transformers imports the module
an `auto_map` (or `custom_pipelines`) entry names, from the folder or from
another repository; NeMo and every Hydra config instantiate the class a
`_target_` names; ModelScope pip-installs and imports a configuration's
`plugins`; sentence-transformers imports each module `type` a modules.json
names, and diffusers each component library a model_index.json names; a
`chat_template` is a Jinja program. Each is found here by the
bytes, whatever the file is called, and reported on the verdict: code is
refused unless the operator names the file (judge_revision), a template that
reaches what a sandbox must not give is refused outright.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, BinaryIO

import yaml

from vault._checks.formats import FileKind, FormatError, Verdict
from vault._checks.keras_config import check_keras_config
from vault._checks.templates import MAX_TEMPLATE_CHARS, template_problem

MAX_JSON_BYTES = 256 << 20  # a tokenizer.json of a 250k vocabulary is ~30 MiB
HYDRA = "Hydra _target_ instantiates Python classes"
# Markers of what makes a text run code, looked for in the raw bytes of a text too large to parse:
# such a text is refused rather than waved through.
_LARGE_TEXT_MARKERS = (b"auto_map", b"custom_pipelines", b"chat_template", b"_target_", b"plugins", b"{%",
                       b"{{", b"\\u", b"\\x", b"class_name")  # fmt: skip
_LARGE_NAMES = (".json", ".yaml", ".yml", ".jinja", ".jinja2", ".j2", ".py")
MAX_WALK = 1_000_000
MAX_PURE_YAML = 4 << 20  # read by the pure-Python SafeLoader up to here; libyaml first beyond
# A YAML key `_target_:` (plain, quoted, or a list item's first key), as Hydra and NeMo write it.
_YAML_TARGET = re.compile(r"""[ \t]*(?:-[ \t]+)?["']?_target_["']?[ \t]*:.*""")
_CLASS_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_TEMPLATE_MARKS = ("{{", "{%")


def _references(value: object) -> list[object]:
    """The `module.Class` entries of an auto_map value (a string, or a list with nulls)."""
    items: list[object] = value if isinstance(value, list) else [value]
    return [v for v in items if v is not None]


def _auto_map_refs(name: str, doc: dict[str, object]) -> list[str]:
    refs: list[object] = []
    auto_map = doc.get("auto_map")
    if auto_map is not None:
        if not isinstance(auto_map, dict):
            raise FormatError(f"{name}: auto_map is not an object")
        for value in auto_map.values():
            refs.extend(_references(value))
    pipelines = doc.get("custom_pipelines")
    if pipelines is not None:
        if not isinstance(pipelines, dict):
            raise FormatError(f"{name}: custom_pipelines is not an object")
        for task in pipelines.values():
            impl = task.get("impl") if isinstance(task, dict) else None
            if impl is not None:
                refs.append(impl)
    found: list[str] = []
    for ref in refs:
        if not isinstance(ref, str) or _CLASS_REF.fullmatch(ref.split("--", 1)[-1]) is None:
            raise FormatError(f"{name}: auto_map entry {ref!r} is not module.Class")
        found.append(ref)
    return found


def _templates(name: str, value: object) -> list[tuple[str, str]]:
    """(label, source) for a `chat_template` value: one template, or a list of named ones."""
    if isinstance(value, str):
        return [("chat_template", value)]
    if isinstance(value, list):
        found = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("template"), str):
                raise FormatError(f"{name}: chat_template list entry is not {{name, template}}")
            found.append((f"chat_template {item.get('name')!r}", item["template"]))
        return found
    raise FormatError(f"{name}: chat_template is neither a string nor a list of templates")


def _yaml_target(name: str, text: str) -> bool:
    """Does Hydra, reading this text as YAML, find a `_target_` key (however it is spelled)?

    Composed (never constructed: no timestamps or tags are evaluated) by
    PyYAML's own SafeLoader, the reader OmegaConf builds on, so flow mappings,
    escaped keys, complex keys, directives and aliases are read as OmegaConf
    reads them; libyaml first for large texts. Only texts that name a target
    or hold an escape are read; a text no YAML reader accepts falls back to a
    line test.
    """
    if "target" not in text and "\\" not in text:
        return False
    loaders = (yaml.SafeLoader,) if len(text) <= MAX_PURE_YAML else (yaml.CSafeLoader, yaml.SafeLoader)
    for loader in loaders:
        try:
            nodes = list(yaml.compose_all(text, Loader=loader))
        except Exception:  # PyYAML raises YAMLError and, on some inputs, ValueError or TypeError
            continue
        return any(_node_has_target(name, node) for node in nodes if node is not None)
    return any(_YAML_TARGET.fullmatch(line) for line in text.splitlines())


def _node_has_target(name: str, root: Any) -> bool:
    """A `_target_` key anywhere under a composed node; aliases are followed once (a cycle is no bomb)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > MAX_WALK:
            raise FormatError(f"{name}: YAML document too large to walk, refused")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "_target_":
                    return True
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False


def _has_target(doc: object) -> bool:
    """A `_target_` key anywhere in the document (walked without recursion, bounded)."""
    stack, seen = [doc], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_WALK:
            raise FormatError("document too large to walk")
        if isinstance(node, dict):
            if "_target_" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


# Files a loader runs, or renders as a template, because of their name.
CODE_SUFFIXES = (".py",)
TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")


def runs_code(path: str, verdict: Verdict) -> str:
    """Why loading this file runs code: what its bytes say, or Python source by its name."""
    reasons = [verdict.runs_code] if verdict.runs_code else []
    if path.lower().endswith(CODE_SUFFIXES):
        reasons.append("Python source, imported by remote-code loaders and handlers")
    return "; ".join(reasons)


def check_named_template(path: str, verdict: Verdict) -> None:
    """A file a loader renders as a template by its name must be one that reaches nothing it should not."""
    if path.lower().endswith(TEMPLATE_SUFFIXES):
        if verdict.kind is not FileKind.TEXT:
            raise FormatError(f"{path}: named as a template but the bytes are {verdict.kind.value}, not text")
        if verdict.template is not None:
            raise FormatError(f"{path}: chat template reaches {verdict.template}; refused")


def check_template_text(name: str, source: str) -> None:
    problem = template_problem(source)
    if problem is not None:
        raise FormatError(f"{name}: chat template reaches {problem}; refused")


def _judge_json(name: str, doc: dict[str, object]) -> Verdict:
    if "class_name" in doc and "config" in doc:
        # A Keras model saved as a folder (config.json beside model.weights.h5): what load_model(dir) reads.
        check_keras_config(name, doc)
    runs: list[str] = []
    refs = _auto_map_refs(name, doc)
    if refs:
        runs.append("auto_map names code to import")
    if doc.get("plugins"):
        runs.append("ModelScope plugins are installed and imported on load")
    if components := _diffusers_components(doc):
        runs.append(f"diffusers imports the component libraries {components}")
    if "chat_template" in doc:
        for label, source in _templates(name, doc["chat_template"]):
            check_template_text(f"{name}: {label}", source)
    try:
        if _has_target(doc):
            runs.append(HYDRA)
    except FormatError as exc:
        raise FormatError(f"{name}: {exc}") from None
    return Verdict(FileKind.TEXT, runs_code="; ".join(runs), code_refs=tuple(refs))


# Libraries a diffusers pipeline may name for a component without importing code from the revision.
DIFFUSERS_LIBRARIES = frozenset({"diffusers", "transformers"})
SENTENCE_TRANSFORMERS = "sentence_transformers.models."


def _sentence_transformers_modules(doc: list[object]) -> list[str]:
    """Module classes a modules.json names: sentence-transformers imports each `type` it is given."""
    if not doc or not all(isinstance(m, dict) and "type" in m and "path" in m for m in doc):
        return []
    types = [m["type"] for m in doc if isinstance(m, dict)]
    return [str(t) for t in types if not (isinstance(t, str) and t.startswith(SENTENCE_TRANSFORMERS))]


def _diffusers_components(doc: dict[str, object]) -> list[str]:
    """Components of a model_index.json whose library is not diffusers' or transformers' own."""
    if "_class_name" not in doc or "_diffusers_version" not in doc:
        return []
    found = []
    for key, value in doc.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library = value[0]
        if library is not None and not (isinstance(library, str) and library in DIFFUSERS_LIBRARIES):
            found.append(f"{key}: {str(library)[:80]}")
    return found


def _judge_large_text(name: str, fh: BinaryIO, size: int) -> Verdict:
    """A text past what is parsed: plain data only, or refused (it cannot be judged for code)."""
    if name.lower().endswith(_LARGE_NAMES):
        raise FormatError(
            f"{name}: a {size}-byte text a loader reads for code or templates: too large to check"
        )
    fh.seek(0)
    tail = b""
    while chunk := fh.read(1 << 20):
        window = tail + chunk
        for marker in _LARGE_TEXT_MARKERS:
            if marker in window:
                raise FormatError(
                    f"{name}: a {size}-byte text that holds {marker.decode()!r}: too large to check for code"
                )
        tail = chunk[-16:]
    return Verdict(FileKind.TEXT, template=f"a text of {size} bytes, too large to check as a template")


def judge_text(name: str, fh: BinaryIO, size: int) -> Verdict:
    """A text file (UTF-8, no stray controls): what a loader would run from it."""
    if size > MAX_JSON_BYTES:
        return _judge_large_text(name, fh, size)
    fh.seek(0)
    text = fh.read().decode("utf-8")
    # A loader that reads the file as a template by its name reads all of it, JSON or not.
    template: str | None = None
    if any(mark in text for mark in _TEMPLATE_MARKS):
        template = template_problem(text) if len(text) <= MAX_TEMPLATE_CHARS else "a text too large to check"
    if text.lstrip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            return replace(_judge_json(name, doc), template=template)
        if isinstance(doc, list) and (modules := _sentence_transformers_modules(doc)):
            why = f"sentence-transformers imports the module types {modules}"
            return Verdict(FileKind.TEXT, runs_code=why, template=template)
    runs = HYDRA if _yaml_target(name, text) else ""
    return Verdict(FileKind.TEXT, runs_code=runs, template=template)

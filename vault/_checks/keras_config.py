"""Keras model configs: refuse anything that makes loading run code or read the host.

A Keras model (`.keras` archive's config.json, or an `.h5` file's
`model_config` attribute) is a tree of `{"class_name", "config", "module",
"registered_name"}` objects that `load_model` turns into Python objects. A
`Lambda` layer carries marshalled bytecode; `TFOpLambda` names a function to
call; a `module` outside Keras, or a custom `registered_name`, imports
arbitrary code. `TFSMLayer` loads a SavedModel from wherever its config
points, and the lookup layers read a vocabulary given as a path from the
loading host. Plain layers from Keras itself are data, and pass; so does the
one function form Keras itself writes for a compiled model, a built-in loss
or metric named under `builtins`, which Keras resolves only among its own.
"""

from __future__ import annotations

import re

from vault._checks.formats import FormatError

CODE_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__", "function"})
# Layers whose config names something outside the file for Keras to load at load time.
OUTSIDE_CLASSES = frozenset({"TFSMLayer"})
# Config keys a layer reads as a file path when their value is a string (a vocabulary, say).
PATH_KEYS = frozenset({"vocabulary", "idf_weights", "filepath", "file_path", "vocabulary_file"})
MAX_DEPTH = 200
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


class KerasError(FormatError):
    """A Keras config that would run or import code, or read the host, when loaded."""


def _keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


def _builtin_function(node: dict[str, object]) -> bool:
    """`{"module": "builtins", "class_name": "function", "config": "mean_squared_error"}`.

    Keras writes this for a loss or metric passed as a function, and on load
    looks the name up only under keras.{activations,losses,metrics,...}: a
    name, never code. Anything more (a dotted path, a registered custom name)
    is not this form.
    """
    name = node.get("config")
    return (
        node.get("module") == "builtins"
        and isinstance(name, str)
        and _NAME.fullmatch(name) is not None
        and node.get("registered_name") in (None, "function", name)
    )


def _short(text: str) -> str:
    """A name as a message shows it: a "module" can be a whole base64 pickle."""
    return repr(text) if len(text) <= 80 else f"{text[:60]!r}… ({len(text)} characters)"


def check_keras_config(name: str, config: object) -> None:
    def bad(where: str, found: str) -> KerasError:
        return KerasError(f"{name}: Keras config at {where}: expected plain Keras layers, found {found}")

    stack: list[tuple[object, str, int]] = [(config, "$", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad(where, f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls == "function" and _builtin_function(node):
                continue
            if isinstance(cls, str) and cls in CODE_CLASSES:
                raise bad(where, f"a {cls} object (it runs code on load)")
            if isinstance(cls, str) and cls in OUTSIDE_CLASSES:
                raise bad(where, f"a {cls} (it loads a model from outside the file)")
            module = node.get("module")
            if isinstance(module, str) and not _keras_module(module):
                raise bad(where, f"module {_short(module)} (loading imports it)")
            registered = node.get("registered_name")
            if isinstance(registered, str) and ">" in registered:
                raise bad(where, f"custom object {_short(registered)} (it needs custom code)")
            for key in PATH_KEYS:
                value = node.get(key)
                if isinstance(value, str) and value:
                    raise bad(f"{where}.{key}", f"the path {value!r} (the layer reads it from the host)")
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))

"""Keras model configs: refuse anything that makes loading run code.

A Keras model (`.keras` archive's config.json, or an `.h5` file's
`model_config` attribute) is a tree of `{"class_name", "config", "module",
"registered_name"}` objects that `load_model` turns into Python objects. A
`Lambda` layer carries marshalled bytecode; `TFOpLambda` names a function to
call; a `module` outside Keras, or a custom `registered_name`, imports
arbitrary code. Plain layers from Keras itself are data, and pass.
"""

from __future__ import annotations

from vault._checks.formats import FormatError

CODE_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__", "function"})
MAX_DEPTH = 200


class KerasError(FormatError):
    """A Keras config that would run or import code when loaded."""


def _keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


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
            if isinstance(cls, str) and cls in CODE_CLASSES:
                raise bad(where, f"a {cls} object (it runs code on load)")
            module = node.get("module")
            if isinstance(module, str) and not _keras_module(module):
                raise bad(where, f"module {module!r} (loading imports it)")
            registered = node.get("registered_name")
            if isinstance(registered, str) and ">" in registered:
                raise bad(where, f"custom object {registered!r} (it needs custom code)")
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))

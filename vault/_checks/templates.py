"""Chat templates: Jinja programs a loader runs on every prompt, judged by what they reach.

A chat template (`chat_template` in tokenizer_config.json, chat_template.jinja,
a GGUF's `tokenizer.chat_template`) is code: transformers renders it in
Jinja's sandbox, but llama-cpp-python rendered GGUF templates without one
(CVE-2024-34359), and the sandbox itself has fallen to `str.format` and
`|attr` tricks (CVE-2024-56201, CVE-2024-56326, CVE-2025-27516). The template
is parsed with Jinja's own parser, as every loader parses it, and refused if
it reaches what a sandbox must not give: private and dunder names (however
they are spelled: a constant, an `attr` argument, a subscript), the `attr`
and `format` filters and `.format`/`.format_map` calls, subscripts computed
from strings, and `import`/`include`/`extends`, which read other templates
from the host. Plain templates (loops over messages, `tojson`, `namespace`,
`raise_exception`) use none of it.

What stays out of reach: a string built in pieces through `set` statements
and then used as a plain name in a subscript. A loader that renders outside
a sandbox can still be driven that way; the threat model says so.
"""

from __future__ import annotations

import re

import jinja2
from jinja2 import nodes

MAX_TEMPLATE_CHARS = 1 << 20
_FILTERS = frozenset({"attr", "format", "xmlattr"})
# Filters that take an attribute name, or the name of another filter or test, as an argument:
# `map(attribute=…)`, `map('attr', …)`, `selectattr(…)`. Their arguments must be literals.
_NAMING_FILTERS = frozenset({
    "map", "select", "reject", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min",
    "max", "join", "dictsort", "batch", "slice",
})  # fmt: skip
_METHODS = frozenset({"format", "format_map", "mro"})
_ARITHMETIC = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Neg, nodes.Pos)
_ENVIRONMENT = jinja2.Environment()  # parsing only: nothing is ever rendered here


# Attributes that lead from an ordinary object to frames, code and globals without an underscore
# in front (`(x|select).gi_frame.f_builtins`): Jinja's sandbox refuses the generator, coroutine and
# async-generator ones by name; frames, code objects and tracebacks lead on from there.
_INTERNAL = re.compile(r"(?:gi|cr|ag|f|co|tb|func|im)_[A-Za-z_]+|mro", re.ASCII)


def _private(text: str) -> bool:
    return text.startswith("_") or "__" in text


def _reaches_internals(text: str) -> bool:
    """A name a sandbox must not give: private, dunder, or one of the interpreter's internals."""
    return _private(text) or _INTERNAL.fullmatch(text) is not None


def _plain_index(node: nodes.Node) -> bool:
    """A subscript a template needs: a constant, a name, a chain of lookups, a slice or arithmetic."""
    if isinstance(node, nodes.Const):
        return not isinstance(node.value, str) or not _reaches_internals(node.value)
    if isinstance(node, nodes.Name | nodes.Slice):
        return True
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        return _plain_index(node.node)
    if isinstance(node, _ARITHMETIC):
        operands = [c for c in node.iter_child_nodes()]
        strings = [c for c in operands if isinstance(c, nodes.Const) and isinstance(c.value, str)]
        return not strings and all(_plain_index(c) for c in operands)
    return False


def _naming_arguments(node: nodes.Filter | nodes.Test) -> str | None:
    """A filter that looks up names it is given: only literal, public names, and no filter on _FILTERS."""
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return f"the {node.name!r} filter with arguments spread from a variable"
    for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
        if not isinstance(arg, nodes.Const):
            return f"the {node.name!r} filter with a computed argument (it can name a private attribute)"
        if isinstance(arg.value, str) and (_reaches_internals(arg.value) or arg.value in _FILTERS):
            return f"the {node.name!r} filter naming {arg.value!r}"
    return None


def template_problem(source: str) -> str | None:
    """Why a loader must not render this template, or None when it reaches nothing it should not."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"a template of {len(source)} characters (limit {MAX_TEMPLATE_CHARS})"
    try:
        tree = _ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"not a template Jinja parses (line {exc.lineno}: {exc.message})"
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
            return f"{type(node).__name__.lower()} of another template (it reads the host)"
        if isinstance(node, nodes.Name) and _private(node.name):
            return f"the private name {node.name!r}"
        if isinstance(node, nodes.Getattr) and _reaches_internals(node.attr):
            return f"the private attribute {node.attr!r}"
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
            return f"the string {node.value!r}, which names a private attribute"
        if isinstance(node, nodes.Filter) and node.name in _FILTERS:
            return f"the {node.name!r} filter (it reaches attributes a sandbox must not give)"
        if isinstance(node, nodes.Filter | nodes.Test) and node.name in _NAMING_FILTERS:
            problem = _naming_arguments(node)
            if problem is not None:
                return problem
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in _METHODS
        ):
            return f"a .{node.node.attr}() call (format strings reach attributes a sandbox must not give)"
        if isinstance(node, nodes.Getitem) and not _plain_index(node.arg):
            return "a subscript computed from strings (it can spell a private attribute)"
    return None

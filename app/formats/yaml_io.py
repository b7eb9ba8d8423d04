"""Reading and writing the YAML of question banks safely and predictably.

Reading: YAML 1.2 core scalars (only ``true``/``false`` are booleans, ``yes``/``no``/``on`` stay
text, ``6.02e23`` is a number, dates stay text, ``0123`` is not octal); anchors, aliases and explicit
tags (``&a``, ``*a``, ``!!python/...``) are refused, so alias bombs cannot expand; nesting deeper than
``MAX_DEPTH`` and duplicate mapping keys are refused. Numbers remember how they were written, so a
number in a text position (``text: 0.50``, ``id: 1``) becomes exactly the text the teacher typed.

Writing: multi-line text as ``|`` block scalars, no anchors, keys in the given order, and any text
that would read back as something else quoted.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "Flow", "FlowList", "YamlRefused", "decode", "dump", "load", "plain"]

MAX_DEPTH = 40
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class YamlRefused(Exception):
    """Well-formed YAML that we refuse (alias, anchor, tag, too deep), with the 1-based line."""

    def __init__(self, line: int, zh: str, en: str) -> None:
        super().__init__(en)
        self.line, self.zh, self.en = line, zh, en


class _Int(int):
    """An int that remembers its source text (``0123``)."""

    source: str


class _Float(float):
    """A float that remembers its source text (``0.50``)."""

    source: str


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    try:
        number = _Int(int(text, 10))
    except ValueError:  # more digits than Python converts: keep the text
        return text
    number.source = text
    return number


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    number = _Float(float(text))
    number.source = text
    return number


class _Loader(_FAST):  # type: ignore[misc, valid-type]
    """Safe loader with YAML 1.2 core scalars and duplicate-key detection."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base constructor reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class Flow(dict):
    """A mapping written on one line: ``{id: a, text: 位移}``."""


class FlowList(list):
    """A list written on one line: ``[a, c]``."""


class _Dumper(yaml.SafeDumper):
    """Readable output: block scalars for multi-line text, indented lists, never anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key ("questions:\n  - key: …"), as people write them.
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


for _cls in (_Loader, _Dumper):
    # The loader resolves only these; the dumper knows them on top of YAML 1.1's, so it quotes any
    # text that either reading would take for something else.
    _cls.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
    _cls.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
    _cls.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))
_Dumper.add_representer(FlowList, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def decode(data: bytes) -> str:
    """The text of a YAML file: UTF-8 (with or without BOM) or UTF-16 with a BOM.

    Raises UnicodeDecodeError for anything else (e.g. a GBK file)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _scan(text: str) -> None:
    """Refuse anchors, aliases, explicit tags, several documents and deep nesting, before building."""
    depth = documents = 0
    for event in yaml.parse(text, Loader=_FAST):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlRefused(line, "不允许使用 YAML 锚点和别名（& 和 *）；请把内容直接写出来",
                              "YAML anchors and aliases (& and *) are not allowed; write the content out")
        if getattr(event, "tag", None) is not None and not isinstance(event, yaml.DocumentStartEvent):
            raise YamlRefused(line, "不允许使用 YAML 标签（!! 或 !）；要把数字当文字请加引号",
                              "YAML tags (!! or !) are not allowed; quote a number to make it text")
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YamlRefused(line, "一个文件只能有一个 YAML 文档（不要用第二个 ---）",
                                  "a file must hold a single YAML document (no second ---)")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlRefused(line, f"嵌套超过 {MAX_DEPTH} 层",
                                  f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load(text: str) -> Any:
    """Parse one YAML document with the rules of this module.

    Raises yaml.YAMLError (malformed, with a mark) or YamlRefused (refused construct, with a line).
    """
    _scan(text)
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# Keys whose values are text wherever they appear; lists under _TEXT_LISTS hold texts.
_TEXT_KEYS = frozenset({"key", "type", "stem", "explanation", "source", "author", "reference_answer",
                        "rubric", "unit", "id", "text", "subject", "topic"})
_TEXT_LISTS = frozenset({"answers", "knowledge_points"})


def plain(value: Any, texty: bool = False) -> Any:
    """Loaded YAML as plain Python values, numbers in text positions turned back into their text.

    Text positions: mapping keys, the fields in ``_TEXT_KEYS``, the items of ``answers`` and
    ``knowledge_points``, and every id in an ``answer`` (except a true/false answer).
    """
    if isinstance(value, (_Int, _Float)):
        if texty:
            return value.source
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, list):
        return [plain(v, texty) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            text_here = texty or key in _TEXT_KEYS or key in _TEXT_LISTS or (
                key == "answer" and value.get("type") != "true_false")
            out[plain(key, True)] = plain(item, text_here)
        return out
    return value


def dump(data: Any) -> str:
    """YAML text for ``data`` (plain dicts, lists, str, int, float, bool, None), readable by load()."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096,
                     default_flow_style=False, indent=2)

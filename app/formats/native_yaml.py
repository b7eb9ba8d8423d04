"""The native question-bank format ("yaml"): ``<subject>/<topic>.yaml`` with ``images/`` beside it.

docs/question-format.md is the specification. Import checks everything before anything is written:
file size, encoding, YAML syntax (with the line), the file's subject against its folder and the
requested subject, every question (app.domain.questions), keys unique across the subject, and
every referenced image (app.domain.images). Export writes one file per topic that reads back to
canonically equal questions.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import yaml

from app.domain.images import check_image
from app.domain.question_rules import KEY, join
from app.domain.questions import (
    SUBJECTS,
    Issue,
    ParsedBank,
    canonical,
    content_fingerprint,
    image_refs,
    validate_question,
)
from app.formats import yaml_io
from app.formats.registry import ExportResult, register_exporter, register_importer

__all__ = ["MAX_FILE_BYTES", "NativeYaml"]

MAX_FILE_BYTES = 5_000_000
_YAML_EXTENSIONS = (".yaml", ".yml")
_FILE_FIELDS = ("subject", "topic", "questions")
_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\s]+')


def _key_of(q: Any) -> str:
    key = q.get("key") if isinstance(q, dict) else None
    return key.strip() if isinstance(key, str) and KEY.fullmatch(key.strip()) else ""


# Chinese explanations of the YAML problems teachers meet most (libyaml's wording, and PyYAML's).
_YAML_HINTS = (
    ("duplicate key", "同一层里有重复的字段"),
    ("mapping values are not allowed",
     "此处不能写“字段: 值”：常见原因是冒号后缺空格、缩进不齐，或文字中的“: ”没有加引号"),
    ("could not find expected ':'", "缺少冒号“:”，或文字换行后缩进不对"),
    ("did not find expected key", "缩进没有对齐，或列表项“- ”的位置不对"),
    ("cannot start any token",
     "出现了不能开头的字符：常见原因是用了 Tab 缩进，或以 @ ` % 开头的文字没有加引号"),
    ("expected ',' or '}'",
     "{…} 或 […] 里的文字含有 { } [ ] , 时要加引号，例如 {id: a, text: '$\\frac{1}{2}$'}"),
    ("did not find expected", "括号或引号没有配对"),
    ("found unhashable key", "字段名不能是列表或映射"),
)


def _yaml_error(path: str, error: Exception, text: str) -> Issue:
    """A malformed-YAML issue with the line and column, explained for teachers."""
    if isinstance(error, yaml_io.YamlRefused):
        return Issue(path, "yaml.refused", f"第 {error.line} 行：{error.zh}",
                     f"line {error.line}: {error.en}")
    mark = getattr(error, "problem_mark", None)
    problem = str(getattr(error, "problem", None) or error).strip()
    hint = next((zh for needle, zh in _YAML_HINTS if needle in problem), "YAML 格式错误")
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
        hint = "这一行有 Tab 字符：YAML 只能用空格缩进"
        problem += " (this line contains a tab: indent with spaces)"
    if mark is None:
        return Issue(path, "yaml.malformed", f"YAML 格式错误：{hint}（{problem}）",
                     f"malformed YAML: {problem}")
    line, column = mark.line + 1, mark.column + 1
    return Issue(path, "yaml.malformed", f"第 {line} 行第 {column} 列：{hint}（{problem}）",
                 f"malformed YAML at line {line}, column {column}: {problem}")


class _BankReader:
    """One parse of a set of files; collects questions, images, issues and notes."""

    def __init__(self, files: dict[str, bytes], subject: str | None) -> None:
        self.files = {posixpath.normpath(p.replace("\\", "/")).lstrip("/"): d for p, d in files.items()}
        self.subject = subject
        self.bank = ParsedBank()
        self.keys: dict[tuple[str, str], tuple[str, int]] = {}  # (subject, key) → (file, question number)
        self.referenced: set[str] = set()  # image paths referenced by any question, valid or not
        self.fingerprints: dict[str, str] = {}
        self.checked: dict[str, tuple[str, bytes] | Issue] = {}  # resolved path → check_image()

    def issue(self, location: str, code: str, zh: str, en: str) -> None:
        self.bank.issues.append(Issue(location, code, zh, en))

    def run(self) -> ParsedBank:
        if self.subject is not None and self.subject not in SUBJECTS:
            self.issue("", "subject.unknown", f"未知学科“{self.subject}”，可用：{'、'.join(SUBJECTS)}",
                       f'unknown subject "{self.subject}"; use one of: {", ".join(SUBJECTS)}')
        paths = sorted(p for p in self.files if p.lower().endswith(_YAML_EXTENSIONS))
        if not paths:
            self.issue("", "yaml.no_files", "没有找到 .yaml 题库文件", "no .yaml question file was found")
        for path in paths:
            self.read_file(path)
        self.note_unused_files(paths)
        if self.bank.issues:  # all or nothing
            self.bank.questions, self.bank.images = [], {}
        return self.bank

    def read_file(self, path: str) -> None:
        data = self.files[path]
        if len(data) > MAX_FILE_BYTES:
            self.issue(path, "yaml.too_large",
                       f"文件过大（{len(data) / 1e6:.1f} MB），最大 5 MB；请按专题拆分",
                       f"file too large ({len(data) / 1e6:.1f} MB), at most 5 MB; split it by topic")
            return
        try:
            text = yaml_io.decode(data)
        except UnicodeDecodeError:
            self.issue(path, "yaml.encoding", "文件不是 UTF-8 编码（可能是 GBK）；请在编辑器中另存为 UTF-8",
                       "the file is not UTF-8 text (perhaps GBK); save it as UTF-8 in your editor")
            return
        try:
            document = yaml_io.plain(yaml_io.load(text))
        except (yaml.YAMLError, yaml_io.YamlRefused) as error:
            self.bank.issues.append(_yaml_error(path, error, text))
            return
        if not isinstance(document, dict):
            self.issue(path, "yaml.not_mapping", "文件应以 subject:、topic:、questions: 三个字段组成",
                       "the file must consist of the fields subject:, topic: and questions:")
            return
        for name in document:
            if name not in _FILE_FIELDS:
                self.issue(join(path, str(name)), "field.unknown",
                           f"未知的文件字段“{name}”（可用：subject、topic、questions）",
                           f'unknown file field "{name}" (allowed: subject, topic, questions)')
        subject = self.file_subject(path, document.get("subject"))
        topic = document.get("topic", posixpath.splitext(posixpath.basename(path))[0])
        if not isinstance(topic, str) or not topic.strip() or len(topic) > 200:
            self.issue(join(path, "topic"), "topic.invalid", "专题（topic）应为不超过 200 字的文字",
                       "topic must be text of at most 200 characters")
            topic = ""
        questions = document.get("questions")
        if not isinstance(questions, list):
            self.issue(join(path, "questions"), "questions.not_list",
                       "questions: 应为题目列表（每题以 - key: 开头）",
                       "questions: must be a list of questions (each starting with - key:)")
            return
        if not questions:
            self.bank.notes.append(Issue(path, "questions.empty", "文件中没有题目",
                                         "the file holds no questions"))
        for number, q in enumerate(questions, 1):
            self.read_question(path, number, q, subject, topic.strip())

    def file_subject(self, path: str, subject: Any) -> str | None:
        """The file's subject if valid and consistent with its folder and the requested subject."""
        location = join(path, "subject")
        folder = posixpath.basename(posixpath.dirname(path))
        if subject is None:
            self.issue(location, "field.missing", "必填字段缺失：subject（学科）",
                       "required field subject is missing")
        elif subject not in SUBJECTS:
            self.issue(location, "subject.unknown", f"未知学科“{subject}”，可用：{'、'.join(SUBJECTS)}",
                       f'unknown subject "{subject}"; use one of: {", ".join(SUBJECTS)}')
        elif folder in SUBJECTS and folder != subject:
            self.issue(location, "subject.folder_mismatch",
                       f"文件写的学科是 {subject}，却放在 {folder}/ 文件夹中",
                       f"the file says subject {subject} but is in the folder {folder}/")
        elif self.subject is not None and subject != self.subject:
            self.issue(location, "subject.mismatch", f"文件写的学科是 {subject}，但导入的是 {self.subject}",
                       f"the file says subject {subject} but this import is for {self.subject}")
        else:
            return subject
        return None

    def read_question(self, path: str, number: int, q: Any, subject: str | None, topic: str) -> None:
        key = _key_of(q)
        where = path if key else f"{path} · #{number}"
        problems = validate_question(q, where=where)
        if isinstance(q, dict):
            self.referenced.update(self.resolve(path, ref) for ref in image_refs(q))
        if isinstance(q, dict):
            for name in ("subject", "topic"):
                if name in q:
                    problems.append(Issue(join(where, key, name), "field.unknown",
                                          f"{name} 只在文件开头写一次，不要写在题目里",
                                          f"{name} is set once at the top of the file, not per question"))
        self.bank.issues.extend(problems)
        if problems or subject is None:
            return
        for own_key in [key] + [_key_of(part) for part in q.get("parts") or []]:
            first = self.keys.setdefault((subject, own_key), (path, number))
            if first != (path, number):
                self.issue(join(path, own_key, "key"), "key.duplicate",
                           f"题目编号“{own_key}”在 {subject} 学科中重复（已在 {first[0]} 中使用）",
                           f'question key "{own_key}" is used twice in {subject} (already in {first[0]})')
        self.read_images(path, key, q)
        stored = canonical({"subject": subject, "topic": topic or key, **q})
        fingerprint = content_fingerprint(subject, stored)
        if fingerprint in self.fingerprints:
            self.bank.notes.append(Issue(join(path, key), "question.possible_duplicate",
                                         f"与 {self.fingerprints[fingerprint]} 内容相同，可能重复",
                                         f"same content as {self.fingerprints[fingerprint]}: "
                                         "a possible duplicate"))
        self.fingerprints.setdefault(fingerprint, key)
        self.bank.questions.append(stored)

    @staticmethod
    def resolve(path: str, ref: str) -> str:
        """The file an image reference in ``path`` names: relative to that file's folder."""
        return posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))

    def read_images(self, path: str, key: str, q: dict) -> None:
        """Check every image the question references, relative to the YAML file's folder."""
        for ref in image_refs(q):
            location = join(path, key, ref)
            resolved = self.resolve(path, ref)
            if resolved not in self.files:
                self.issue(location, "image.missing",
                           f"找不到图片文件 {resolved}（应放在题库文件旁的 images/ 文件夹中）",
                           f"image file {resolved} is missing "
                           "(it belongs in the images/ folder beside the file)")
                continue
            if resolved not in self.checked:
                self.checked[resolved] = check_image(resolved, self.files[resolved])
            checked = self.checked[resolved]
            if isinstance(checked, Issue):
                self.bank.issues.append(Issue(location, checked.code, checked.zh, checked.en))
            elif self.bank.images.setdefault(ref, checked[1]) != checked[1]:
                self.issue(location, "image.name_clash",
                           f"本次导入中有两张不同的图片都叫 {ref}；请改名或分学科导入",
                           f"two different images are both called {ref} in this import; rename one or "
                           "import the subjects separately")

    def note_unused_files(self, paths: list[str]) -> None:
        for path in sorted(set(self.files) - set(paths) - self.referenced):
            if "images" in path.split("/")[:-1]:
                self.bank.notes.append(Issue(path, "image.unused", "没有题目引用这张图片，未导入",
                                             "no question references this image; not imported"))
            else:
                self.bank.notes.append(Issue(path, "file.ignored", "不是 .yaml 题库文件，已忽略",
                                             "not a .yaml question file; ignored"))


# --- export ----------------------------------------------------------------------------------------

def _file_name(topic: str, taken: set[str]) -> str:
    """A safe, unique file name for a topic (``运动学`` → ``运动学.yaml``)."""
    base = _UNSAFE_FILENAME.sub("-", topic).strip(".-")[:80] or "topic"
    name, n = base, 1
    while name.casefold() in taken or name.casefold() == "images":
        n += 1
        name = f"{base}-{n}"
    taken.add(name.casefold())
    return f"{name}.yaml"


def _one_line(value: Any) -> bool:
    return all("\n" not in v for v in value.values() if isinstance(v, str))


def _readable(q: dict) -> dict:
    """A canonical question as teachers read and edit it: empty optional fields and a group's
    computed points left out, choices and short lists on one line when they fit."""
    out: dict[str, Any] = {}
    for name, value in q.items():
        if name in ("subject", "topic") or (name in ("explanation", "source", "author",
                                                     "rubric") and value == ""):
            continue
        if name == "points" and q["type"] == "group":
            continue
        if name == "parts":
            value = [_readable(part) for part in value]
        elif name in ("options", "items", "prompts"):
            value = [yaml_io.Flow(entry) if _one_line(entry) else entry for entry in value]
        elif name == "blanks":
            value = [_readable_blank(blank) for blank in value]
        elif name == "answer" and isinstance(value, (list, dict)):
            value = yaml_io.FlowList(value) if isinstance(value, list) else yaml_io.Flow(value)
        elif name == "knowledge_points":
            value = yaml_io.FlowList(value)
        out[name] = value
    return out


def _readable_blank(blank: dict) -> dict:
    out: dict[str, Any] = {}
    for name, value in blank.items():
        if (name, value) in (("case_sensitive", False), ("unit", "")):
            continue
        if name == "answers":
            value = yaml_io.FlowList(value) if all("\n" not in a for a in value) else value
        elif name == "numeric":
            value = yaml_io.Flow(value)
        out[name] = value
    return out


_HEADER = "# 英才计划题库（原生 YAML 格式，说明见 docs/question-format.md）\n"
_QUESTION_START = re.compile(r"^(  - key: )", re.MULTILINE)


def _dump_file(document: dict) -> bytes:
    """The file text: a header line and a blank line before each question, for people."""
    text = _QUESTION_START.sub(r"\n\1", yaml_io.dump(document)).replace("questions:\n\n", "questions:\n", 1)
    return (_HEADER + text).encode("utf-8")


class NativeYaml:
    """The native YAML importer and exporter, registered as "yaml"."""

    name = "yaml"
    extensions = _YAML_EXTENSIONS

    def parse(self, files: dict[str, bytes], *, subject: str | None = None) -> ParsedBank:
        """Read .yaml files and their images; see the module docstring for what is checked."""
        return _BankReader(files, subject).run()

    def export(self, questions: list[dict], images: dict[str, bytes], *, subject: str) -> ExportResult:
        """Write ``<subject>/<topic>.yaml`` per topic (questions in the given order) and
        ``<subject>/images/...``. Invalid questions and questions of another subject are reported,
        not written; a referenced image missing from ``images`` is reported (the question is kept)."""
        result = ExportResult()
        topics: dict[str, list[dict]] = {}
        for q in questions:
            where = join(subject, _key_of(q))
            if q.get("subject") not in (None, subject):
                result.issues.append(Issue(where, "export.other_subject",
                                           f"这道题属于 {q.get('subject')} 学科，未导出",
                                           f"this question belongs to {q.get('subject')}; not exported"))
                continue
            problems = validate_question(q, where=subject)
            if problems:
                result.issues.extend(problems)
                continue
            stored = canonical(q)
            topics.setdefault(stored.get("topic") or "未分类", []).append(stored)
            for ref in image_refs(stored):
                if ref in images:
                    result.files[f"{subject}/{ref}"] = images[ref]
                else:
                    result.issues.append(Issue(join(where, ref), "image.missing",
                                               f"缺少图片 {ref}，题目已导出但图片没有",
                                               f"image {ref} is missing; "
                                               "the question was exported without it"))
        taken: set[str] = set()
        for topic, members in topics.items():
            document = {"subject": subject, "topic": topic, "questions": [_readable(q) for q in members]}
            result.files[f"{subject}/{_file_name(topic, taken)}"] = _dump_file(document)
        return result


_NATIVE = NativeYaml()
register_importer(_NATIVE)
register_exporter(_NATIVE)

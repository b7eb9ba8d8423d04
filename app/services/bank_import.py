"""Importing and exporting question banks through the format registry, all or nothing.

An import is planned first (nothing written): every question is classified as new, changed (a new
version of the question with the same key), unchanged, or a duplicate of another question of the
subject (same normalized stem and options). Only when the files had no problem at all is the plan
applied, in the caller's transaction; a dry run stops after the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import formats  # noqa: F401  (registers every format)
from app.domain.questions import Issue, ParsedBank
from app.formats.registry import EXPORTERS, ExportResult, importer_for_filename
from app.models import Question, QuestionReview, StoredImage
from app.services import audit, bank_store

OnDuplicate = Literal["skip", "update"]


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (key in file, existing key)
    issues: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)
    dry_run: bool = False
    format: str = ""

    @property
    def ok(self) -> bool:
        return not self.issues

    def counts(self) -> dict[str, int]:
        """Numbers for messages and the audit log."""
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "duplicates": len(self.duplicates), "issues": len(self.issues)}


def parse_files(files: dict[str, bytes], *, subject: str | None) -> tuple[ParsedBank, str]:
    """Parse uploaded files with the importer their extension names (all files one format)."""
    names = [n for n in files if not n.replace("\\", "/").split("/")[-2:-1] == ["images"]]
    if not names:
        return ParsedBank(issues=[Issue("", "import.empty", "没有可导入的文件", "no file to import")]), ""
    try:
        importer = importer_for_filename(names[0])
    except Exception as exc:  # BankValidationError carries located issues
        return ParsedBank(issues=list(getattr(exc, "issues", [])) or [
            Issue(names[0], "import.format", str(exc), str(exc))]), ""
    return importer.parse(files, subject=subject), importer.name


def _plan(session: Session, parsed: ParsedBank, report: ImportReport, on_duplicate: OnDuplicate,
          allowed_subjects: set[str] | None) -> list[tuple[str, Question | None, dict, str, str]]:
    plan: list[tuple[str, Question | None, dict, str, str]] = []
    seen_fingerprints: dict[tuple[str, str], str] = {}
    for q in parsed.questions:
        content, subject, topic = bank_store.split_meta(q)
        key = content["key"]
        if allowed_subjects is not None and subject not in allowed_subjects:
            report.issues.append(Issue(f"{subject} · {key}", "import.subject_forbidden",
                                       f"您没有学科“{subject}”的题库权限", f"you may not edit the {subject} bank"))
            continue
        existing = bank_store.find(session, subject, key)
        from app.domain.questions import content_fingerprint

        fp = content_fingerprint(subject, content)
        if (subject, fp) in seen_fingerprints:
            report.duplicates.append((key, seen_fingerprints[(subject, fp)]))
            continue
        seen_fingerprints[(subject, fp)] = key
        if existing is not None:
            if existing.current_version and existing.current_version.content == content:
                report.unchanged.append(key)
            else:
                report.updated.append(key)
                plan.append(("update", existing, content, subject, topic))
            continue
        twin = session.scalar(select(Question).where(Question.subject_code == subject, Question.fingerprint == fp,
                                                     Question.status != "retired").limit(1))
        if twin is not None:
            report.duplicates.append((key, twin.key))
            if on_duplicate == "update" and twin.current_version.content != {**content, "key": twin.key}:
                report.updated.append(twin.key)
                plan.append(("update", twin, {**content, "key": twin.key}, subject, topic))
            continue
        report.created.append(key)
        plan.append(("create", None, content, subject, topic))
    return plan


def import_bank(session: Session, parsed: ParsedBank, *, actor: audit.Actor, author_id: int | None,
                now: datetime, dry_run: bool = False, on_duplicate: OnDuplicate = "skip",
                approve: bool = False, allowed_subjects: set[str] | None = None,
                format_name: str = "") -> ImportReport:
    """Validate-first, all-or-nothing import of a parsed bank (see the module docstring)."""
    report = ImportReport(issues=list(parsed.issues), notes=list(parsed.notes), dry_run=dry_run,
                          format=format_name)
    if report.issues:
        return report
    plan = _plan(session, parsed, report, on_duplicate, allowed_subjects)
    if report.issues or dry_run:
        if report.issues:
            report.created, report.updated = [], []
        return report
    image_map = bank_store.store_images(session, parsed.images, now=now)
    subjects: set[str] = set()
    for action, question, content, subject, topic in plan:
        subjects.add(subject)
        if action == "create":
            question = bank_store.create_question(session, subject=subject, topic=topic, content=content,
                                                  image_map=image_map, author_id=author_id, now=now,
                                                  note="import")
        else:
            bank_store.add_version(session, question, content, image_map, actor_id=author_id, now=now,
                                   note="import")
            if topic:
                question.topic = topic[:128]
            session.add(QuestionReview(question_id=question.id, version_id=question.current_version_id,
                                       actor_id=author_id, action="edit", comment="import", at=now))
            if question.status in ("approved", "submitted") and not approve:
                question.status = "draft"  # changed content is reviewed again; papers keep the approved version
        if approve:
            question.status = "approved"
            question.approved_version = question.current_version
            session.add(QuestionReview(question_id=question.id, version_id=question.current_version_id,
                                       actor_id=author_id, action="approve", comment="import --approve", at=now))
    session.flush()
    audit.record(session, actor=actor, action="bank.import", object_type="bank", object_id=",".join(sorted(subjects)),
                 after={**report.counts(), "format": format_name, "approved": approve,
                        "created_keys": report.created[:200], "updated_keys": report.updated[:200]}, now=now)
    return report


def export_bank(session: Session, *, subject: str, format_name: str, include_retired: bool = False) -> ExportResult:
    """Export a subject's questions (current versions) and their images with the named exporter."""
    exporter = EXPORTERS[format_name]
    query = select(Question).where(Question.subject_code == subject).order_by(Question.topic, Question.key)
    if not include_retired:
        query = query.where(Question.status != "retired")
    questions: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for question in session.scalars(query):
        version = question.current_version
        questions.append({**version.content, "subject": subject, "topic": question.topic})
        for ref, stored in (version.images or {}).items():
            if names.setdefault(ref, stored) != stored:
                # Two questions use one reference for different pictures: export by content name.
                names[ref] = stored
    images = {ref: session.get(StoredImage, stored).data for ref, stored in names.items()}
    return exporter.export(questions, images, subject=subject)

"""All models, imported here so Alembic's autogenerate and the app see the whole metadata."""
from app.models.attempt import (
    ATTEMPT_STATES,
    Attempt,
    AttemptEvent,
    ExamConsent,
    Response,
    SaveReceipt,
    WriterToken,
)
from app.models.audit import AuditEntry
from app.models.bank import (
    QUESTION_STATES,
    Question,
    QuestionReview,
    QuestionTag,
    QuestionVersion,
    StoredImage,
)
from app.models.base import Base
from app.models.exam import EXAM_KINDS, Exam, ExamQuestion, ExamSection, SelectionRound, TimeGrant
from app.models.job import Job
from app.models.league import League, School, Subject
from app.models.user import ROLES, STAFF_ROLES, StudentProfile, User, teacher_subjects

__all__ = [
    "ATTEMPT_STATES",
    "EXAM_KINDS",
    "QUESTION_STATES",
    "ROLES",
    "STAFF_ROLES",
    "Attempt",
    "AttemptEvent",
    "AuditEntry",
    "Base",
    "Exam",
    "ExamConsent",
    "ExamQuestion",
    "ExamSection",
    "Job",
    "League",
    "Question",
    "QuestionReview",
    "QuestionTag",
    "QuestionVersion",
    "Response",
    "SaveReceipt",
    "School",
    "SelectionRound",
    "StoredImage",
    "StudentProfile",
    "Subject",
    "TimeGrant",
    "User",
    "WriterToken",
    "teacher_subjects",
]
from app.models.credentials import CredentialBatch, SlipFile
from app.models.room import ATTENDANCE_STATES, Attendance, IncidentNote, Room, SeatAssignment, room_proctors

__all__ += ["ATTENDANCE_STATES", "Attendance", "CredentialBatch", "IncidentNote", "Room", "SeatAssignment",
            "SlipFile", "room_proctors"]
from app.models.ranking import (
    ManualGrade,
    RankingRow,
    RankingRun,
    Regrade,
    ResultSettings,
    ResultSnapshot,
    ScoreReview,
    SelectionDecision,
    SelectionRule,
    Voiding,
)

__all__ += [
    "ManualGrade", "RankingRow", "RankingRun", "Regrade", "ResultSettings", "ResultSnapshot", "ScoreReview",
    "SelectionDecision", "SelectionRule", "Voiding",
]

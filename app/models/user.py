"""Users of every role, teachers' subjects and student profiles."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, LargeBinary, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime
from app.models.league import League, School, Subject

ROLES = ("admin", "league_admin", "teacher", "proctor", "student")
STAFF_ROLES = ("admin", "league_admin", "teacher", "proctor")

teacher_subjects = Table(
    "teacher_subjects",
    Base.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("subject_code", ForeignKey("subjects.code"), primary_key=True),
)


class User(Base):
    """Anyone who logs in. Staff log in by username, students by exam number (their login name)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin','league_admin','teacher','proctor','student')", name="role_known"
        ),
        CheckConstraint("role <> 'league_admin' OR league_code IS NOT NULL", name="league_admin_has_league"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login_name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), index=True)
    league_code: Mapped[str | None] = mapped_column(ForeignKey("leagues.code"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Flask-Login's alternative id: rotated at every login, so a new login ends other sessions.
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    league: Mapped[League | None] = relationship()
    subjects: Mapped[list[Subject]] = relationship(secondary=teacher_subjects, order_by="Subject.position")
    student: Mapped[StudentProfile | None] = relationship(back_populates="user", uselist=False)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The session's identity is the rotating token, never the user id."""
        return self.session_token

    @property
    def subject_codes(self) -> set[str]:
        """Subjects a teacher may work in (admins: all, handled by the caller)."""
        return {s.code for s in self.subjects}

    def __repr__(self) -> str:
        return f"<User {self.login_name} {self.role}>"


class StudentProfile(Base):
    """A student's registration: exam number (准考证号), school, subject applied for."""

    __tablename__ = "students"
    __table_args__ = (
        CheckConstraint("gender IN ('M','F','U')", name="gender_known"),
        CheckConstraint("extra_minutes >= 0", name="extra_minutes_non_negative"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Text, never a number: exam numbers keep their leading zeros.
    exam_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(1), default="U")
    grade: Mapped[str] = mapped_column(String(16), default="")
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    league_code: Mapped[str] = mapped_column(ForeignKey("leagues.code"), index=True)
    subject_code: Mapped[str] = mapped_column(ForeignKey("subjects.code"), index=True)
    # National ID: Fernet ciphertext, a keyed hash for uniqueness/look-up, and the masked form to show.
    national_id_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    national_id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    national_id_masked: Mapped[str | None] = mapped_column(String(18))
    # Accommodation (延时): extra minutes on every exam this student takes.
    extra_minutes: Mapped[int] = mapped_column(default=0)
    extra_time_reason: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(back_populates="student")
    school: Mapped[School] = relationship()
    league: Mapped[League] = relationship()
    subject: Mapped[Subject] = relationship()

"""Leagues (盟市), schools and subjects."""
from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base


class League(Base):
    """One of the 12 leagues and cities of Inner Mongolia, keyed by its 6-digit division code."""

    __tablename__ = "leagues"
    __table_args__ = (CheckConstraint("length(code) = 6", name="code_six_digits"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # city | league

    schools: Mapped[list[School]] = relationship(back_populates="league", order_by="School.name")

    def display_name(self, locale: str) -> str:
        """The league's name in the reader's language."""
        return self.name_zh if locale.startswith("zh") else self.name_en


class School(Base):
    """A secondary school; belongs to exactly one league."""

    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("league_code", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    league_code: Mapped[str] = mapped_column(ForeignKey("leagues.code"), index=True)

    league: Mapped[League] = relationship(back_populates="schools")


class Subject(Base):
    """A test subject: math, physics, chemistry, biology or cs."""

    __tablename__ = "subjects"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(32))
    default_minutes: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)

    def display_name(self, locale: str) -> str:
        """The subject's name in the reader's language."""
        return self.name_zh if locale.startswith("zh") else self.name_en

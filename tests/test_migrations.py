"""Alembic owns the schema: one head, empty → head works, and the models match the migrations."""
from __future__ import annotations

import csv
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate
from sqlalchemy import select

from app.extensions import db
from app.models import League, Subject


def _script(app) -> ScriptDirectory:
    config = app.extensions["migrate"].migrate.get_config() if hasattr(app.extensions["migrate"], "migrate") \
        else Migrate().get_config(app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config)


def test_single_head(app):
    with app.app_context():
        assert len(_script(app).get_heads()) == 1


def test_database_is_at_head(app):
    with app.app_context(), db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        assert current == _script(app).get_current_head()


def test_models_match_migrations(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"


def test_leagues_loaded_from_the_official_list(db_session):
    rows = list(csv.DictReader((Path(__file__).parents[1] / "app/data/leagues.csv").open(encoding="utf-8")))
    leagues = {league.code: league for league in db_session.scalars(select(League))}
    assert len(leagues) == 12
    for row in rows:
        assert leagues[row["code"]].name_zh == row["name_zh"]
        assert leagues[row["code"]].name_en == row["name_en"]
    assert leagues["152900"].name_zh == "阿拉善盟"


def test_subjects_with_official_durations(db_session):
    minutes = {s.code: s.default_minutes for s in db_session.scalars(select(Subject))}
    assert minutes == {"math": 120, "physics": 120, "chemistry": 120, "biology": 90, "cs": 90}


def test_downgrade_to_base_and_back(app, tmp_path, is_postgres):
    """Every migration can be undone and redone (on a scratch SQLite database)."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.conftest import test_config

    scratch = create_app(test_config("sqlite:///" + str(tmp_path / "scratch.sqlite3")))
    with scratch.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        assert db.session.scalar(select(League).where(League.code == "150100")).name_zh == "呼和浩特市"
        db.session.remove()
        db.engine.dispose()

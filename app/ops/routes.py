"""The operations home page: what an admin, a league admin or a proctor can do on exam day."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from app.authz import roles
from app.clock import utcnow
from app.extensions import db
from app.models import Room
from app.ops import bp
from app.services import monitor, rooms


@bp.route("/")
@roles("admin", "league_admin", "proctor")
def index():
    """Links to import, schools and rooms, slips and the monitors of open exams."""
    my_rooms = []
    if current_user.role == "proctor":
        ids = rooms.proctor_room_ids(db.session, current_user.id)
        my_rooms = db.session.scalars(select(Room).where(Room.id.in_(ids or [-1])).order_by(Room.name)).all()
    return render_template("ops/index.html", exams=monitor.open_exams(db.session, now=utcnow()), my_rooms=my_rooms)

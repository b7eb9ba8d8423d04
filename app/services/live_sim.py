"""Simulated students sitting an open exam live, for demos and for watching the monitor.

``launch`` starts a detached process (``python -m app.services.live_sim``) so ``flask demo
--simulate-live N`` returns at once while N students, each in its own thread, go through the real
services with the real clock: pledge, start, page open (writer token), saves every few seconds,
heartbeats every 20 s with an occasional integrity event, then submit. Some behave like real rooms
do: about 5 % never start (absent), about 10 % vanish mid-exam (the monitor shows them as not seen
for over a minute; the sweep finalizes them at their deadline). Students come from the exam's
eligible ones, created as "模拟考生" in the demo schools when there are not enough.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Exam, School, StudentProfile, User
from app.services import attempts, monitor
from app.services.attempts import AttemptError, Client

HEARTBEAT_SECONDS = 20


def launch(n: int, *, instance_path: str, minutes: float = 8.0, exam_id: int | None = None) -> tuple[int, str]:
    """Start the simulation in a detached process; returns (pid, log path)."""
    os.makedirs(instance_path, exist_ok=True)
    log_path = os.path.join(instance_path, "simulate-live.log")
    args = [sys.executable, "-m", "app.services.live_sim", "--n", str(n), "--minutes", str(minutes)]
    if exam_id:
        args += ["--exam", str(exam_id)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=dict(os.environ),
                                   cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return process.pid, log_path


def choose_exam(session: Session, now: datetime, exam_id: int | None = None) -> Exam | None:
    """The given exam, else the open selection exam with the most eligible students."""
    if exam_id:
        return session.get(Exam, exam_id)
    best, best_count = None, -1
    for exam in monitor.open_exams(session, now=now):
        if exam.kind != "selection" or not exam.opens_at <= now < exam.closes_at:
            continue
        count = session.scalar(select(func.count()).select_from(StudentProfile)
                               .where(StudentProfile.subject_code == exam.subject_code)) or 0
        if count > best_count:
            best, best_count = exam, count
    return best


def ensure_students(session: Session, exam: Exam, n: int, *, now: datetime, password_hash: str) -> list[int]:
    """User ids of n eligible students (without an attempt first), creating simulated ones if needed."""
    from app.services.accounts import new_session_token

    rows = session.execute(select(StudentProfile.user_id).join(User, User.id == StudentProfile.user_id)
                           .where(StudentProfile.subject_code == exam.subject_code, User.is_active.is_(True))
                           .order_by(StudentProfile.exam_number)).scalars().all()
    eligible = [uid for uid in rows if _eligible(session, exam, uid, now)]
    schools = session.scalars(select(School).order_by(School.league_code, School.id)).all()
    seq = session.scalar(select(func.count()).select_from(User).where(User.login_name.like("SIM%"))) or 0
    while len(eligible) < n and schools:
        seq += 1
        school = schools[seq % len(schools)]
        user = User(login_name=f"SIM{school.league_code}{seq:05d}", display_name=f"模拟考生{seq}", role="student",
                    password_hash=password_hash, session_token=new_session_token(), is_active=True, created_at=now)
        user.student = StudentProfile(exam_number=user.login_name, name=f"模拟考生{seq}", gender="U", grade="高一",
                                      school_id=school.id, league_code=school.league_code,
                                      subject_code=exam.subject_code, extra_minutes=0)
        session.add(user)
        session.flush()
        if _eligible(session, exam, user.id, now):
            eligible.append(user.id)
    session.commit()
    return eligible[:n]


def _eligible(session: Session, exam: Exam, user_id: int, now: datetime) -> bool:
    from app.services.exam_authoring import exam_is_open_for

    return exam_is_open_for(exam, profile=session.get(StudentProfile, user_id), now=now)


def _answer(view: dict) -> object | None:
    """A random answer in the page's own shape for the common types (others are left blank)."""
    qtype = view.get("type")
    if qtype == "single":
        return random.choice(view["options"])["id"]
    if qtype == "multiple":
        return [o["id"] for o in random.sample(view["options"], k=random.randint(1, min(3, len(view["options"]))))]
    if qtype == "true_false":
        return random.random() < 0.5
    return None


def sit(session_factory, exam_id: int, user_id: int, *, minutes: float, log, pace: float = 1.0) -> str:
    """One simulated student's whole sitting; returns what happened (``pace`` scales the pauses)."""
    def now() -> datetime:
        return datetime.now(UTC)

    client = Client(f"10.0.0.{random.randint(2, 250)}", "live-sim")
    time.sleep(pace * random.uniform(0, 20))
    if random.random() < 0.05:
        return "absent"
    session = session_factory()
    try:
        exam, user = session.get(Exam, exam_id), session.get(User, user_id)
        attempts.accept_pledge(session, exam=exam, user=user, now=now(), client=client)
        attempt = attempts.start(session, exam=exam, user=user, now=now(), client=client)
        page = attempts.open_page(session, attempt, now=now(), client=client)
        session.commit()
        questions = [q for s in page["sections"] for q in s["questions"] if _answer(q) is not None]
        seq = page["last_seq"]
        vanish_at = now() + timedelta(minutes=minutes * random.uniform(0.2, 0.6)) if random.random() < 0.1 else None
        finish_at = now() + timedelta(minutes=minutes * random.uniform(0.6, 1.0))
        next_beat = now()
        while now() < finish_at:
            if vanish_at and now() > vanish_at:
                return "vanished"
            if questions and random.random() < 0.6:
                q = random.choice(questions)
                seq += 1
                try:
                    attempts.save(session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq,
                                  question_id=q["id"], answer=_answer(q), now=now())
                    session.commit()
                except AttemptError as exc:
                    session.rollback()
                    if exc.code in ("time_over", "attempt_closed", "stale_tab"):
                        return exc.code
            if now() >= next_beat:
                session.refresh(attempt)
                events = [{"kind": random.choice(["blur", "visibility_hidden"])}] if random.random() < 0.1 else []
                beat = attempts.heartbeat(session, attempt, token=page["token"], events=events, now=now(), client=client)
                session.commit()
                if beat["state"] != "in_progress":
                    return beat["state"]
                next_beat = now() + timedelta(seconds=HEARTBEAT_SECONDS)
            time.sleep(pace * random.uniform(3, 10))
        session.refresh(attempt)
        attempts.submit(session, attempt, token=page["token"], now=now(), client=client)
        session.commit()
        return "submitted"
    except Exception as exc:  # noqa: BLE001  (one simulated student's failure is logged, never fatal to the others)
        session.rollback()
        log(f"student {user_id}: {type(exc).__name__}: {exc}")
        return "error"
    finally:
        session.close()


def main(argv: list[str] | None = None) -> int:
    """Run the simulation in this process (what ``launch`` starts)."""
    parser = argparse.ArgumentParser(description="simulated students sitting an open exam")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--exam", type=int)
    args = parser.parse_args(argv)
    from sqlalchemy.orm import sessionmaker

    from app import create_app
    from app.extensions import db
    from app.services.passwords import hash_password

    app = create_app()
    with app.app_context():
        start = datetime.now(UTC)
        exam = choose_exam(db.session, start, args.exam)
        if exam is None:
            print("没有开放的考试 / no open exam", flush=True)
            return 1
        exam_id, title = exam.id, exam.title
        ids = ensure_students(db.session, exam, args.n, now=start, password_hash=hash_password(os.urandom(8).hex()))
        # Hold no transaction in this thread: on SQLite an open one would keep the write lock from the students.
        db.session.remove()
        print(f"{start.isoformat()} simulating {len(ids)} students on exam {exam_id} {title}", flush=True)
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        outcomes: dict[str, int] = {}
        lock = threading.Lock()

        def log(message: str) -> None:
            with lock:
                print(message, flush=True)

        def run(uid: int) -> None:
            result = sit(factory, exam_id, uid, minutes=args.minutes, log=log)
            with lock:
                outcomes[result] = outcomes.get(result, 0) + 1

        threads = [threading.Thread(target=run, args=(uid,), daemon=True) for uid in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(f"{datetime.now(UTC).isoformat()} done: {outcomes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

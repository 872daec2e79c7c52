"""The `aftercare` command: serve, worker, mail-in, deploy, users, demo."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from engine.commands import Aftercare
from engine.db import startup_lock
from engine.effects import ROLES
from engine.errors import AftercareError, InvalidProcess, ValidationFailed
from engine.settings import DEV_SECRET, LOOPBACK, Settings
from engine.users import MAX_PASSWORD, MIN_PASSWORD

from .app import DEPLOYER, create_app, prepare, settle_memory
from .demo import bring_first_inspection_forward, load_demo
from .demo_history import load_demo_history
from .demo_kb import load_demo_articles
from .mail_in import MAIL_IN_PORT, serve_mail_in, start_mail_in
from .worker import Worker


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except InvalidProcess as exc:
        for p in exc.problems:
            print(f"{p['file']}:{p['line'] or '?'}: {p['element_id'] or '-'}: {p['message']}", file=sys.stderr)
        return 2
    except AftercareError as exc:
        print(f"error: {exc.message} {getattr(exc, 'errors', '')}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aftercare", description="Aftercare service desk")
    sub = parser.add_subparsers(required=True)
    serve = sub.add_parser("serve", help="serve the app, the API and the timer scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", dest="run_worker", action="store_false", default=None,
                       help="only serve: leave timers, mail and mail-in to `aftercare worker` processes "
                            "(also AFTERCARE_RUN_WORKER=0)")
    serve.add_argument("--workers", type=int, default=1,
                       help="HTTP processes sharing the port (default 1); timers and mail still run once, in the "
                            "supervising process")
    serve.set_defaults(func=_serve)
    sub.add_parser("worker", help="run only the timer scheduler and mail sender").set_defaults(func=_worker)
    mail_in = sub.add_parser("mail-in", help="receive the support mailbox's mail over SMTP (default 127.0.0.1:2525)")
    mail_in.add_argument("--host", help="address to listen on (default AFTERCARE_MAIL_IN_HOST, 127.0.0.1)")
    mail_in.add_argument("--port", type=int, help="port (default AFTERCARE_MAIL_IN_PORT if set, else 2525)")
    mail_in.set_defaults(func=_mail_in)
    deploy = sub.add_parser("deploy", help="deploy the procedures of a directory")
    deploy.add_argument("directory", nargs="?", type=Path)
    deploy.set_defaults(func=_deploy)
    users = sub.add_parser("users", help="manage staff users").add_subparsers(required=True)
    add = users.add_parser("add", help="create a staff user")
    add.add_argument("name")
    add.add_argument("--role", required=True)
    add.add_argument("--password", help="the password; better left out: then it is asked for twice and stays out "
                                        "of the shell history and the process list")
    add.add_argument("--email")
    add.add_argument("--language", default="zh-CN")
    add.set_defaults(func=_users_add)
    sub.add_parser("demo", help="load demo customers and one user per role").set_defaults(func=_demo)
    return parser


def _facade() -> Aftercare:
    facade = Aftercare(Settings())
    prepare(facade)
    return facade


def _serve(args: argparse.Namespace) -> None:
    import uvicorn
    settings = Settings()
    if settings.secret_key == DEV_SECRET and args.host not in LOOPBACK:
        # the base URL may say 127.0.0.1, but listening on another address lets the network in: anyone could forge
        # sessions and customer links with the published secret
        sys.exit(f"refusing to listen on {args.host} with the published development secret: set "
                 "AFTERCARE_SECRET_KEY (and AFTERCARE_BASE_URL, AFTERCARE_ENVIRONMENT=production) first")
    if args.workers <= 1:
        uvicorn.run(create_app(run_worker=args.run_worker), host=args.host, port=args.port, log_level="info")
        return
    # Several HTTP processes on one socket (uvicorn's process manager spawns them and replaces any that dies).
    # The background work runs here, in the supervisor, once: not once per HTTP process, and the mail-in port is
    # bound once.
    facade = _facade()
    run_worker = facade.settings.run_worker if args.run_worker is None else args.run_worker
    worker = Worker(facade, facade.settings.scheduler_interval) if run_worker else None
    if worker:
        worker.start()
    mail_in = serve_mail_in(facade) if run_worker else None
    os.environ["AFTERCARE_RUN_WORKER"] = "0"  # inherited by the spawned HTTP processes: they only serve
    try:
        uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level="info")
    finally:
        if mail_in:
            mail_in.stop()
        if worker:
            worker.stop()
        facade.close()


def _worker(_args: argparse.Namespace) -> None:
    facade = _facade()
    settle_memory()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # systemd and docker stop: finish the current ticks
    try:
        Worker(facade, facade.settings.scheduler_interval).run_forever()
    finally:
        facade.close()


def _mail_in(args: argparse.Namespace) -> None:
    facade = _facade()
    host = args.host or facade.settings.mail_in_host
    port = args.port or facade.settings.mail_in_port or MAIL_IN_PORT
    controller = start_mail_in(facade, host=host, port=port)
    print(f"mail-in listening on {host}:{port}", flush=True)
    try:
        threading.Event().wait()  # until the process is stopped
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        facade.close()


def _deploy(args: argparse.Namespace) -> None:
    facade = Aftercare(Settings())
    with startup_lock(facade.db):  # not at the same time as a starting server's own deploy
        facade.migrate()
        versions = facade.deploy_directory(directory=args.directory or facade.settings.processes_dir,
                                           actor=DEPLOYER)
    for v in versions:
        print(f"{v['process_id']} version {v['version']}")
    if not versions:
        print("nothing new: the directory's files are deployed already (a file changed since is deployed again)")


def _users_add(args: argparse.Namespace) -> None:
    if args.role not in ROLES:  # before asking for a password
        raise ValidationFailed("unknown role", [{"field": "role", "message": f"roles are {', '.join(ROLES)}"}])
    password = args.password if args.password is not None else _ask_password()
    facade = _facade()
    user = facade.add_user(username=args.name, role=args.role, password=password, email=args.email,
                           language=args.language)
    print(f"user {user['username']} ({user['role']}) saved")


def _ask_password() -> str:
    """The new user's password, typed twice without echo."""
    first = getpass.getpass("Password: ")
    if not MIN_PASSWORD <= len(first) <= MAX_PASSWORD:
        raise ValidationFailed("password", [{"field": "password", "message": f"{MIN_PASSWORD} to {MAX_PASSWORD} "
                                                                              "characters"}])
    if getpass.getpass("Password again: ") != first:
        raise ValidationFailed("password", [{"field": "password", "message": "the two passwords differ"}])
    return first


def _demo(_args: argparse.Namespace) -> None:
    facade = Aftercare(Settings())
    # One hold of the start-up lock for all of it: a second `aftercare demo` (another host) finds the data there, and
    # a worker starting meanwhile waits before firing timers (the history below replays last month on a clock of
    # its own: a worker already running would fire its timers at today's time; load the demo before the workers).
    with startup_lock(facade.db):
        facade.migrate()
        facade.deploy_directory(directory=facade.settings.processes_dir, actor=DEPLOYER)
        load_demo(facade)
        bring_first_inspection_forward(facade)
        made = load_demo_history(facade.settings, facade.clock.now())
        articles = load_demo_articles(facade)
    facade.close()
    print("demo data loaded: customers 'Demo Customer', ...; users named after roles, password 'demo'; "
          "the inspection of contract HT-2026-003 falls due in two minutes"
          + (f"; last month's history: {made} tickets (its monthly reports start with the server)" if made else "")
          + (f"; {articles} knowledge-base articles published" if articles else ""))



"""The ``sessionhub`` command (also ``python -m sessionhub``).

    sessionhub serve [--db URL] [--http HOST:PORT] ...   run the server until SIGTERM/SIGINT; every
                 Settings field is a flag and a SESSIONHUB_* variable (``serve --help`` lists them)
    sessionhub migrate [--db URL]                        bring a database's schema up to date
    sessionhub keys create --account NAME --access READ|WRITE|READ_WRITE [--unbind] [--admin] [--alias TEXT]
    sessionhub keys import KEY --account NAME --access ...  issue an existing key value (e.g. ror-...)
    sessionhub keys list | keys revoke KEY
    sessionhub devices import --account NAME --deviceid HEX64 --model M --serial-number S
                 [--type T] [--alias A] [--firmware F]    bind a device under its existing deviceid
    sessionhub events create --account NAME --name TEXT [--edition] [--location] [--start ISO] [--end ISO]
    sessionhub events add-point --account NAME --event TOKEN --deviceid HEX64 --name FINISH
    sessionhub events update-participant --account NAME --event TOKEN --participant-id ID [--bib ...]
    sessionhub locations create --account NAME --name TEXT --rate AMOUNT_PER_HOUR --currency USD
                 [--increment-minutes 15] [--daily-max AMOUNT] [--gated] [--latitude D --longitude D]
                                                                    prints the new location id
    sessionhub locations list --account NAME
    sessionhub webhooks create --account NAME --url URL --kinds K1,K2   prints id and the secret (shown once)
    sessionhub webhooks list [--account NAME] | disable ID | enable ID | delete ID
    sessionhub webhooks deliveries ID [--limit N]       the latest delivery attempts, newest first
    sessionhub webhooks replay ID --from SEQ            deliver again every change from SEQ on
    sessionhub demo                                      seed a demo account; print a key and curl lines
    sessionhub streamrank URL [--seconds N] [--interval S] [--header 'NAME: VALUE' ...]
                 poll URL and stream its /stream twin; print the x-streamrank block (YAML)

Flags and variables come from ``config.Settings`` (``add_settings``): a new setting is a field there,
never a hand-written flag here.

Exit codes: 0 success, 1 a refused request (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import FrameType
from typing import TypeVar

from sessionhub import __version__, config
from sessionhub.config import Settings, host_port
from sessionhub.core.errors import SessionhubError
from sessionhub.runtime import Runtime, build, private_files, with_jwt_secret
from sessionhub.store import SchemaError

T = TypeVar("T")


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` on a started runtime (a command's: it never delivers webhooks, the server does)."""
    import dataclasses

    settings = dataclasses.replace(settings, webhook_delivery=False)

    async def go() -> T:
        runtime = build(settings)
        await runtime.start()
        try:
            return await work(runtime)
        finally:
            await runtime.stop()

    return asyncio.run(go())


def _settings(args: argparse.Namespace) -> Settings:
    """Settings of a command: its flags over ``SESSIONHUB_*`` variables over the defaults."""
    given = {spec.name: getattr(args, spec.name, None) for spec in config.specs()}
    return Settings.from_env(None, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


def _serve_settings(args: argparse.Namespace) -> Settings:
    """``serve``'s settings. CoAP is on by default at DEFAULT_COAP (skipped if that is taken); ``off`` ends it."""
    import dataclasses

    settings = _settings(args)
    coap = settings.coap or (config.DEFAULT_COAP,)
    if "off" in coap:  # "off" drops the addresses before it (a later --coap still adds one)
        coap = coap[len(coap) - coap[::-1].index("off"):]
    settings = dataclasses.replace(settings, coap=coap, coap_optional=not settings.coap)
    settings.check()
    return settings


def add_settings(p: argparse.ArgumentParser, *names: str) -> None:
    """Flags for the named Settings fields (all of them when none is named), each derived from its
    field (see config.py): ``--name-with-dashes``, help from the docstring, env and default shown."""
    group = p.add_argument_group("settings (each also from its environment variable; a flag wins)")
    for spec in config.specs():
        if not spec.cli or (names and spec.name not in names):
            continue
        if spec.secret:
            group.description = (group.description or "") + f"Environment only: {spec.env}: {spec.help(env=False)}. "
            continue
        kw: dict[str, object] = {"dest": spec.name, "default": None, "help": spec.help()}
        if spec.metavar:
            kw["metavar"] = spec.metavar
        if spec.kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif spec.kind is tuple:
            kw["action"], kw["type"] = "append", spec.parse
        else:
            kw["type"] = _argtype(spec)
            if spec.choices:
                kw["choices"] = spec.choices
        group.add_argument(spec.flag, **kw)  # type: ignore[arg-type]


def _argtype(spec: config.Spec) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return spec.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = spec.kind.__name__  # argparse names the type in its error message
    return parse


def raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard one (best effort: thousands of streams)."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def cmd_serve(args: argparse.Namespace) -> int:
    from sessionhub.logs import configure

    settings = _serve_settings(args)
    configure(settings.log_format)  # uvicorn's loggers propagate here (log_config=None in _serve_one)
    settings = with_jwt_secret(settings)
    raise_fd_limit()  # every SSE subscriber holds a socket
    asyncio.run(build(settings).store.preflight())  # refuse an unmigrated shared database before binding
    if settings.workers > 1:
        return _serve_workers(settings, _serve_one)
    return _serve_one(settings)


def _serve_one(settings: Settings, socks: list[socket.socket] | None = None) -> int:
    """One server process: a runtime and uvicorn on ``socks`` (bound), else on
    ``settings.http`` (``settings.listen_queues`` sockets of its own where the system shares a port)."""
    import uvicorn

    from sessionhub.http import create_app
    from sessionhub.logs import AccessLog
    from sessionhub.web import pages as console_pages

    runtime = build(settings)

    class _Server(uvicorn.Server):
        """uvicorn, except that SIGTERM/SIGINT end the process with 0 after a graceful stop
        instead of re-raising the signal (a supervisor reads that as a crash)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and sockets and bound_here:  # uvicorn says it only of the sockets it binds
                self._log_started_message(sockets)
            if self.started and settings.demo:  # seeded once bound: a failed start revokes no running server's key
                await _print_demo(runtime, settings)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            # uvicorn waits for open responses before it stops: end the streams and long-polls now
            with contextlib.suppress(RuntimeError):  # no loop yet
                asyncio.get_running_loop().call_soon_threadsafe(runtime.hub.close_all)

    from sessionhub.http.guard import ConnectionGuard, ConnectionLimits, Front, connection_cap, guarded_protocol

    host, port = host_port(settings.http, "http")
    bound_here = socks is None and settings.listen_queues > 1 and _shares_ports(host)
    if bound_here:
        try:
            socks = _listening(host, port, settings.listen_queues)
        except OSError as exc:  # as uvicorn says it when it binds
            logging.getLogger("uvicorn.error").error("[Errno %s] error while attempting to bind on address "
                                                     "(%r, %d): %s", exc.errno, host, port, exc.strerror)
            return 1
    if socks:
        port = socks[0].getsockname()[1]  # what was bound (a port of 0 asks for any)
    guard = ConnectionGuard(ConnectionLimits(
        settings.header_timeout, settings.body_timeout, connection_cap(settings.max_connections, settings.fd_reserve),
        settings.max_connections_per_address, max_lingering=settings.fd_reserve // 2))
    app = create_app(runtime, pages=console_pages(runtime))
    served = app if settings.access_log == "off" else AccessLog(app, settings.access_log)
    # the protocol-level lane answers before uvicorn's own middleware: not behind a trusted proxy, whose
    # client address its rate limits would not see (the access log and the metrics offer the lane too)
    lane = served if isinstance(served, Front) and not settings.forwarded_allow_ips else None
    server = _Server(uvicorn.Config(
        served, host=host, port=port, lifespan="on", access_log=False, log_level="info", log_config=None,
        server_header=False, ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
        http=guarded_protocol(guard, lane, direct_streams=served is app),  # an access log counts each body
        proxy_headers=bool(settings.forwarded_allow_ips), forwarded_allow_ips=list(settings.forwarded_allow_ips),
        timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]  # a float works
        backlog=settings.listen_backlog,
    ))
    server.run(sockets=socks or None)
    return 0 if server.started else 1


def _shares_ports(host: str) -> bool:
    """Whether ``host`` is one address (a name may stand for several: uvicorn binds those itself) and
    SO_REUSEPORT spreads new connections over the sockets of one address (Linux; BSD's and macOS's
    hand them all to one socket)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _listening(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` TCP sockets bound to ``host:port`` (SO_REUSEPORT: once listening, the kernel spreads
    new connections over them, and each has an accept queue of its own). A connect storm of 25,000
    from eight addresses overflowed one queue of 4,096 for seconds, and a client whose SYN meets a full
    queue waits a second for its retransmission; four queues kept every other client's GET under 50 ms
    but the storm's first (docs/http.md). Port 0: any free port, the same for all.

    The address is first bound once without SO_REUSEPORT, so that a port another server holds (a
    second sessionhub included, whose sockets would otherwise join ours) is refused as taken."""
    with _tcp_socket(host, port, reuse_port=False) as probe:  # OSError (EADDRINUSE) if it is taken
        port = probe.getsockname()[1]
    out: list[socket.socket] = []
    try:
        for _ in range(count):  # uvicorn listens on them once the app has started (as on its own sockets)
            out.append(_tcp_socket(host, port, reuse_port=True))
    except OSError:
        for sock in out:
            sock.close()
        raise
    return out


def _tcp_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port``, as asyncio binds one (SO_REUSEADDR; IPv6 only for an IPv6
    address, IPv4 on its own), with SO_REUSEPORT if asked."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _serve_workers(settings: Settings, serve: Callable[[Settings, list[socket.socket]], int]) -> int:
    """``--workers N``: N forked processes, each with its own SO_REUSEPORT sockets on the one address and
    its own runtime (store pool, change hub following the shared PostgreSQL feed). The parent only
    forwards SIGTERM/SIGINT and exits with the worst child's status. CoAP, the demo seed and webhook
    delivery run in the first worker only (one UDP address; one seed; webhooks: fewer lease claims,
    the lease would keep one deliverer per subscription anyway)."""
    import dataclasses
    import os

    host, port = host_port(settings.http, "http")
    queues = settings.listen_queues
    sockets = _listening(host, port, settings.workers * queues)  # all bound before any fork
    children: list[int] = []
    for n in range(settings.workers):
        own = sockets[n * queues:(n + 1) * queues]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for other in sockets:
                    if other not in own:
                        other.close()
                mine = settings if n == 0 else dataclasses.replace(settings, coap=(), demo=False,
                                                                   webhook_delivery=False)
                code = serve(mine, own)
            finally:
                os._exit(code)
        children.append(pid)
    port = sockets[0].getsockname()[1]  # what was bound (a port of 0 asks for any)
    for sock in sockets:
        sock.close()
    log = logging.getLogger("sessionhub")
    log.info("serving http://%s:%d with %d worker processes %s", host, port, len(children), children)

    def forward(sig: int, _frame: FrameType | None) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    worst = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) & 0xFF)
    return worst


async def _print_demo(runtime: Runtime, settings: Settings) -> None:
    from sessionhub.demo import seed

    def url_host(host: str) -> str:
        return f"[{host}]" if ":" in host else host

    host, port = host_port(settings.http, "http")
    scheme = "https" if settings.tls_cert else "http"
    coap = None if runtime.coap is None else f"{url_host(runtime.coap.host)}:{runtime.coap.port}"
    print(await seed(runtime, f"{scheme}://{url_host(host)}:{port}", coap), flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    private_files(settings.db)
    store = build(settings).store
    applied = asyncio.run(store.apply_migrations())
    print(f"applied migrations {applied}" if applied else "schema is up to date")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.keys_command == "create":
        key = _with_runtime(settings, lambda rt: rt.access.create_key(
            args.account, args.access, args.unbind, args.alias or "", test_account=args.test_account,
            admin=args.admin))
        print(key)
    elif args.keys_command == "import":
        _with_runtime(settings, lambda rt: rt.access.import_key(
            args.account, args.access, args.key, args.unbind, args.alias or "", test_account=args.test_account))
        print("imported")
    elif args.keys_command == "list":
        for k in _with_runtime(settings, lambda rt: rt.access.list_keys()):
            state = "revoked" if k.revoked_ms else "live"
            flags = ",".join(f for f, on in (("unbind", k.unbind), ("admin", k.admin)) if on) or "-"
            print(f"{k.id}\t{k.account}\t{k.access}\t{flags}\t{state}\t{k.alias}")
    else:
        _with_runtime(settings, lambda rt: rt.access.revoke_key(args.key))
        print("revoked")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    settings = _settings(args)
    deviceid = _with_runtime(settings, lambda rt: rt.timing.import_device(
        args.account, args.deviceid, model=args.model, serial_number=args.serial_number, type=args.type,
        alias=args.alias, firmware=args.firmware))
    print(deviceid)
    return 0


def _time(raw: str | None, flag: str) -> int | None:
    from sessionhub.core.clock import parse_iso

    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ValueError(f"{flag} must be a date-time like 2026-04-12T08:00:00Z, got {raw!r}") from None


def cmd_events(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.events_command == "create":
        start, end = _time(args.start, "--start"), _time(args.end, "--end")
        print(_with_runtime(settings, lambda rt: rt.events.create_event(
            args.account, args.name, edition=args.edition, location=args.location, start_ms=start, end_ms=end,
            status=args.status)))
    elif args.events_command == "add-point":
        _with_runtime(settings, lambda rt: rt.events.add_point(args.account, args.event, args.deviceid, args.name))
        print("added")
    else:
        _with_runtime(settings, lambda rt: rt.events.update_participant(
            args.account, args.event, args.participant_id, bib=args.bib, chip=args.chip, first_name=args.first_name,
            last_name=args.last_name, gender=args.gender, category=args.category))
        print("updated")
    return 0


def cmd_locations(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.locations_command == "create":
        location_id = _with_runtime(settings, lambda rt: rt.parking.create_location(
            args.account, args.name, args.rate, args.currency, args.increment_minutes, args.daily_max, args.gated,
            args.latitude, args.longitude))
        print(location_id)
    else:
        for loc in _with_runtime(settings, lambda rt: rt.parking.locations(args.account)):
            cap = "-" if loc.daily_max is None else loc.daily_max
            where = "-" if loc.latitude is None else f"{loc.latitude},{loc.longitude}"
            print(f"{loc.id}\t{loc.name}\t{loc.rate_per_hour} {loc.currency}/h\t{loc.increment_minutes} min\t{cap}"
                  f"\t{'gated' if loc.gated else 'open'}\t{where}")
    return 0


def cmd_stations(args: argparse.Namespace) -> int:
    """``stations list``: one line per paging station of the account (name, changes, system id)."""
    for st in _with_runtime(_settings(args), lambda rt: rt.paging.stations(args.account)):
        print(f"{st.name}\tglobalSessionSequence={st.global_seq}\tsystemId={st.settings.system_id}")
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    from sessionhub.core.clock import iso_ms as iso

    settings = _settings(args)
    command = args.webhooks_command
    if command == "create":
        created = _with_runtime(settings, lambda rt: rt.webhooks.create(args.account, args.url, args.kinds))
        sub = created.subscription
        print(f"{sub.id}\t{created.secret}")
        print(f"subscription {sub.id}: {sub.url} <- {','.join(sub.kinds)} (from seq {sub.cursor + 1}); the secret "
              "above is shown only this once", file=sys.stderr)
    elif command == "list":
        for account, sub in _with_runtime(settings, lambda rt: rt.webhooks.subscriptions(args.account)):
            state = "enabled" if sub.enabled else f"disabled ({sub.disabled_reason or 'by an operator'})"
            print(f"{sub.id}\t{account}\t{sub.url}\t{','.join(sub.kinds)}\tcursor {sub.cursor}\t"
                  f"failures {sub.failures}\t{state}")
    elif command in ("enable", "disable"):
        _with_runtime(settings, lambda rt: rt.webhooks.set_enabled(args.id, command == "enable"))
        print(f"{command}d")
    elif command == "delete":
        _with_runtime(settings, lambda rt: rt.webhooks.delete(args.id))
        print("deleted")
    elif command == "replay":
        _with_runtime(settings, lambda rt: rt.webhooks.replay(args.id, args.from_seq))
        print(f"replaying from seq {args.from_seq}")
    else:
        for a in _with_runtime(settings, lambda rt: rt.webhooks.deliveries(args.id, args.limit)):
            outcome = str(a.status) if a.status is not None else "-"
            retry = "-" if a.next_retry_ms is None else iso(a.next_retry_ms)
            print(f"{iso(a.at_ms)}\tseq {a.seq}\t{a.topic}\tattempt {a.attempt}\t{outcome}\t{a.duration_ms} ms\t"
                  f"next {retry}\t{a.error or ''}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sessionhub.demo import seed

    settings = _settings(args)
    host, port = host_port(settings.http, "http")
    coap = (settings.coap or (config.DEFAULT_COAP,))[0].partition("=")[0]
    print(_with_runtime(settings, lambda rt: seed(rt, f"http://{host}:{port}", None if coap == "off" else coap)))
    return 0


def cmd_streamrank(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from sessionhub import streamrank

    if args.seconds <= 0 or args.interval <= 0 or args.interval > args.seconds:
        raise ValueError("--seconds and --interval must be positive, the interval at most the period")
    with tqdm(total=max(1, int(args.seconds / args.interval)), unit="poll", file=sys.stderr,
              desc="streamrank", leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            fields = streamrank.run(args.url, args.seconds, args.interval, args.header or (), progress)
        except (OSError, RuntimeError) as exc:
            raise ValueError(str(exc)) from exc
    sys.stdout.write(streamrank.to_yaml(fields))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import os

    from sessionhub import simulate

    which = simulate.SCENARIOS if args.scenario == "all" else (args.scenario,)
    if args.rate <= 0 or args.duration <= 0:
        raise ValueError("--rate and --duration must be positive")
    plan = simulate.Plan(which, args.url.rstrip("/"), host_port(args.coap, "coap"),
                         args.key or os.environ.get("SESSIONHUB_KEY") or None, args.location, args.rate,
                         args.duration, args.seed)
    return simulate.run(plan)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sessionhub", description="Live sessions at physical places.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def db(sp: argparse.ArgumentParser) -> None:
        add_settings(sp, "db")

    serve = sub.add_parser("serve", help="run the server", description="Run the server until SIGTERM/SIGINT.")
    add_settings(serve)
    serve.set_defaults(run=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    db(migrate)
    migrate.set_defaults(run=cmd_migrate)

    keys = sub.add_parser("keys", help="issue, list and revoke API keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    create = ksub.add_parser("create", help="issue a key; prints it alone on stdout")
    create.add_argument("--account", required=True)
    create.add_argument("--access", required=True, choices=["READ", "WRITE", "READ_WRITE"])
    create.add_argument("--unbind", action="store_true", help="allow DELETE (WRITE or READ_WRITE keys only)")
    create.add_argument("--admin", action="store_true",
                        help="may also manage the account: its keys, locations and rates (READ_WRITE keys only)")
    create.add_argument("--alias", help="a label for the key")
    create.add_argument("--test-account", action="store_true", help="mark the account as a test account")
    db(create)
    kimport = ksub.add_parser("import", help="issue an existing key value (e.g. a RUFUS ror-... key) so clients"
                              " in the field keep it")
    kimport.add_argument("key", help="the key value, 16 to 256 visible ASCII characters")
    kimport.add_argument("--account", required=True)
    kimport.add_argument("--access", required=True, choices=["READ", "WRITE", "READ_WRITE"])
    kimport.add_argument("--unbind", action="store_true", help="allow DELETE (WRITE or READ_WRITE keys only)")
    kimport.add_argument("--alias", help="a label for the key")
    kimport.add_argument("--test-account", action="store_true", help="mark the account as a test account")
    db(kimport)
    listing = ksub.add_parser("list", help="list every key (never the keys themselves)")
    db(listing)
    revoke = ksub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key")
    db(revoke)
    keys.set_defaults(run=cmd_keys)

    devices = sub.add_parser("devices", help="timing devices")
    dsub = devices.add_subparsers(dest="devices_command", required=True)
    dimport = dsub.add_parser("import", help="bind a device under the deviceid it already has (moving off RUFUS"
                              " Cloud); prints the deviceid")
    dimport.add_argument("--account", required=True)
    dimport.add_argument("--deviceid", required=True, help="its RUFUS deviceid, 64 hex characters")
    dimport.add_argument("--model", required=True)
    dimport.add_argument("--serial-number", required=True)
    dimport.add_argument("--type", help="device type (default CUSTOM)")
    dimport.add_argument("--alias")
    dimport.add_argument("--firmware")
    db(dimport)
    devices.set_defaults(run=cmd_devices)

    events = sub.add_parser("events", help="race events: create, add timing points, correct participants")
    esub = events.add_subparsers(dest="events_command", required=True)
    ecreate = esub.add_parser("create", help="create an event; prints its event_token")
    ecreate.add_argument("--account", required=True)
    ecreate.add_argument("--name", required=True)
    ecreate.add_argument("--edition")
    ecreate.add_argument("--location")
    ecreate.add_argument("--start", help="start date-time (ISO-8601); passings before it do not count")
    ecreate.add_argument("--end", help="end date-time (ISO-8601); passings after it do not count")
    ecreate.add_argument("--status", default="PUBLISHED", choices=["DRAFT", "PUBLISHED"])
    db(ecreate)
    epoint = esub.add_parser("add-point", help="make a device a named timing point of an event (again: rename)")
    epoint.add_argument("--account", required=True)
    epoint.add_argument("--event", required=True, help="the event_token")
    epoint.add_argument("--deviceid", required=True)
    epoint.add_argument("--name", required=True, help="e.g. START, KM10, FINISH")
    db(epoint)
    eupdate = esub.add_parser("update-participant", help="correct a participant (not possible through the API)")
    eupdate.add_argument("--account", required=True)
    eupdate.add_argument("--event", required=True, help="the event_token")
    eupdate.add_argument("--participant-id", required=True)
    for name in ("bib", "chip", "first-name", "last-name", "gender", "category"):
        eupdate.add_argument(f"--{name}", help="new value ('' clears it)" if name != "bib" else "new bib")
    db(eupdate)
    events.set_defaults(run=cmd_events)

    locations = sub.add_parser("locations", help="create and list parking locations")
    lsub = locations.add_subparsers(dest="locations_command", required=True)
    lcreate = lsub.add_parser("create", help="create a location; prints its id alone on stdout")
    lcreate.add_argument("--account", required=True)
    lcreate.add_argument("--name", required=True)
    lcreate.add_argument("--rate", required=True, type=int, metavar="AMOUNT_PER_HOUR",
                         help="hourly rate in minor units of the currency (350 = 3.50 USD)")
    lcreate.add_argument("--currency", required=True, help="ISO 4217 code, e.g. USD")
    lcreate.add_argument("--increment-minutes", type=int, default=15,
                         help="billing increment, a divisor of 1440 (default 15)")
    lcreate.add_argument("--daily-max", type=int, metavar="AMOUNT", help="cap per 24 h, in minor units")
    lcreate.add_argument("--gated", action="store_true",
                         help="a gate scans barcodes: new sessions are pending with a barcode until it scans them in")
    lcreate.add_argument("--latitude", type=float, metavar="DEGREES", help="where it is (with --longitude), for "
                         "Coord's search around a point")
    lcreate.add_argument("--longitude", type=float, metavar="DEGREES", help="with --latitude")
    db(lcreate)
    llist = lsub.add_parser("list", help="list an account's locations")
    llist.add_argument("--account", required=True)
    db(llist)
    locations.set_defaults(run=cmd_locations)

    stations = sub.add_parser("stations", help="an account's paging stations (--coap ADDR=ACCOUNT/STATION)")
    ssub = stations.add_subparsers(dest="stations_command", required=True)
    slist = ssub.add_parser("list", help="list an account's paging stations: name, globalSessionSequence, systemId")
    slist.add_argument("--account", required=True)
    db(slist)
    stations.set_defaults(run=cmd_stations)

    hooks = sub.add_parser("webhooks", help="subscribe URLs to kinds of change (signed POSTs, retried)",
                           description="Webhooks: see docs/webhooks.md. Kinds: parking.session, timing.session, "
                           "paging.session.")
    hsub = hooks.add_subparsers(dest="webhooks_command", required=True)
    hcreate = hsub.add_parser("create", help="subscribe a URL; prints its id and signing secret (shown once)")
    hcreate.add_argument("--account", required=True)
    hcreate.add_argument("--url", required=True, help="http:// or https:// receiver (public address unless "
                         "--webhook-allow-networks allows its network)")
    hcreate.add_argument("--kinds", required=True, help="comma-separated: parking.session,timing.session,"
                         "paging.session")
    add_settings(hcreate, "db", "webhook_allow_networks")
    hlist = hsub.add_parser("list", help="list subscriptions (never their secrets)")
    hlist.add_argument("--account")
    db(hlist)
    for name, text in (("enable", "enable (failures start over; delivery resumes at the cursor)"),
                       ("disable", "stop delivering (the cursor stays: enable resumes without loss)"),
                       ("delete", "delete a subscription and its delivery log")):
        one = hsub.add_parser(name, help=text)
        one.add_argument("id", type=int)
        db(one)
    hlog = hsub.add_parser("deliveries", help="the latest delivery attempts, newest first")
    hlog.add_argument("id", type=int)
    hlog.add_argument("--limit", type=int, default=50, help="rows (1-1000, default 50)")
    db(hlog)
    hreplay = hsub.add_parser("replay", help="deliver again every change of its kinds from a seq on")
    hreplay.add_argument("id", type=int)
    hreplay.add_argument("--from", dest="from_seq", type=int, required=True, metavar="SEQ",
                         help="the first seq to deliver again (a webhook-id)")
    db(hreplay)
    hooks.set_defaults(run=cmd_webhooks)

    demo = sub.add_parser("demo", help="seed a demo account and print a key with working curl lines",
                          description="Seed a demo account; print lines for a server on the same --http/--coap.")
    add_settings(demo, "db", "http", "coap")
    demo.set_defaults(run=cmd_demo)

    rank = sub.add_parser("streamrank", help="poll URL and stream its /stream twin; print the x-streamrank block")
    rank.add_argument("url", help="a GET of this server, keys included (e.g. ...?access_key=KEY)")
    rank.add_argument("--seconds", type=float, default=60.0, help="length of the run (default 60)")
    rank.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    rank.add_argument("--header", action="append", metavar="'NAME: VALUE'",
                      help="a request header for both, e.g. 'api_key: KEY' (repeatable)")
    rank.set_defaults(run=cmd_streamrank)

    sim = sub.add_parser("simulate", help="drive a running server through its real APIs (a race, a garage, a host "
                         "stand)", description="Clients over real sockets, each in its dialect's wire format; "
                         "deterministic with --seed. Progress on stderr, a summary on stdout.")
    sim.add_argument("scenario", nargs="?", default="all", choices=["timing", "parking", "paging", "all"])
    sim.add_argument("--url", default=f"http://{config.DEFAULT_HTTP}", help="the server's HTTP base URL")
    sim.add_argument("--coap", default=config.DEFAULT_COAP, help="HOST:PORT of its CoAP paging dialect")
    sim.add_argument("--key", help="a WRITE or READ_WRITE key (env SESSIONHUB_KEY) for timing and parking")
    sim.add_argument("--location", type=int, default=1, help="the parking location id the cars use (default 1)")
    sim.add_argument("--rate", type=float, default=5.0, help="events a second per scenario (default 5)")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    sim.add_argument("--seed", type=int, default=1, help="the same seed plays the same race, cars and parties")
    sim.set_defaults(run=cmd_simulate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (SessionhubError, SchemaError, ValueError) as exc:
        print(f"sessionhub: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

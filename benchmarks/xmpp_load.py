#!/usr/bin/env python3
"""xmpp_load.py - c2s load generator for any XMPP server (127.0.0.1 only).

Own minimal asyncio XMPP client: asyncio.Protocol (uvloop when installed),
STARTTLS with certificate verification off, SASL SCRAM-SHA-1 or PLAIN,
resource bind, initial presence; stanza boundaries found with
xml.parsers.expat fed incrementally.

Phases (each prints its figures; `all` runs them in order and prints a
markdown summary, --json FILE writes the figures):
  idle        log N clients in, server RSS before/after -> KB per idle client
  login       logins/s, server CPU-ms per login, SCRAM iteration count
  throughput  P sender->receiver pairs, windowed pipelining -> msgs/s,
              server CPU-s per 1,000 messages, sent/received/lost
  latency     paced sends at --rate msgs/s -> one-way latency percentiles
  all         idle (each --idle-clients) , login, throughput, latency
  compare     side-by-side table of several --json outputs

Example:
  python3 benchmarks/xmpp_load.py --host 127.0.0.1 --port 15222 \\
      --domain localhost --server-pid 1234 --accounts-exist all --json out.json

Accounts are <prefix><i> (i = 1..needed) with --password (may contain
{user} or {i}).  They are created before the first phase with
--create-account 'CMD {user} {password}' (also {jid}, {domain}; run once per
account, --create-parallel at a time), or --create-accounts-bulk 'CMD {file}'
(one run; FILE has "localpart password" lines), or not at all with
--accounts-exist.
"""

import argparse
import asyncio
import base64
import collections
import contextlib
import gc
import hashlib
import hmac
import json
import os
import resource
import shlex
import ssl
import sys
import tempfile
import time
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc figures of the server (PID plus its descendants)
# --------------------------------------------------------------------------
class ServerProc:
    def __init__(self, pid):
        self.pid = pid

    def _pids(self):
        if not self.pid:
            return []
        children = collections.defaultdict(list)
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        rest = f.read().rsplit(")", 1)[1].split()
                    children[int(rest[1])].append(int(d))
                except (OSError, IndexError):
                    pass
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, ()))
        return out

    def alive(self):
        return bool(self.pid) and os.path.exists(f"/proc/{self.pid}")

    def cpu(self):
        """utime+stime seconds of the server and its descendants (None without --server-pid)."""
        if not self.pid:
            return None
        t = 0
        for p in self._pids():
            try:
                with open(f"/proc/{p}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                t += int(rest[11]) + int(rest[12])
            except (OSError, IndexError):
                pass
        return t / CLK_TCK

    def rss_kb(self):
        if not self.pid:
            return None
        t = 0
        for p in self._pids():
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            t += int(line.split()[1])
                            break
            except OSError:
                pass
        return t

    def fds(self):
        if not self.pid:
            return None
        n = 0
        for p in self._pids():
            with contextlib.suppress(OSError):
                n += len(os.listdir(f"/proc/{p}/fd"))
        return n

    async def settle(self, max_wait=10.0, idle_frac=0.03):
        """Wait until the server's CPU use over 0.5 s drops below idle_frac of a core."""
        if not self.pid:
            await asyncio.sleep(0.5)
            return
        end = time.monotonic() + max_wait
        while time.monotonic() < end:
            c0, t0 = self.cpu(), time.monotonic()
            await asyncio.sleep(0.5)
            if (self.cpu() - c0) / (time.monotonic() - t0) < idle_frac:
                return


def my_cpu():
    t = os.times()
    return t.user + t.system


def machine_busy():
    """Busy CPU-seconds of the whole machine (all cores) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


class Meter:
    """CPU of server, generator and everything else between two points in time."""

    def __init__(self, srv):
        self.srv = srv
        self.start()

    def start(self):
        self.t, self.s, self.g, self.m = time.monotonic(), self.srv.cpu(), my_cpu(), machine_busy()

    def stop(self):
        dt = time.monotonic() - self.t
        s = self.srv.cpu()
        ds = (s - self.s) if s is not None else None
        dg = my_cpu() - self.g
        dm = machine_busy() - self.m
        other = dm - dg - (ds or 0)
        self.result = {
            "dt": dt,
            "server_cpu": ds,
            "gen_cpu": dg,
            "other_pct": max(0.0, 100 * other / dt) if dt else 0.0,
        }
        return self.result

    def report(self):
        o = self.result["other_pct"]
        warn = "  <-- WARNING: other processes competed for the 2 cores" if o > 20 else ""
        return f"other processes on the machine: {o:.0f}% of a core{warn}"


async def wait_quiet(cfg, srv, label):
    """Bounded wait until other processes leave the CPUs alone (shared machines)."""
    if cfg.quiet_wait <= 0:
        return
    t_end = time.monotonic() + cfg.quiet_wait
    good = 0
    waited = False
    while time.monotonic() < t_end:
        m = Meter(srv)
        await asyncio.sleep(1.0)
        o = m.stop()["other_pct"]
        if o < cfg.quiet_threshold:
            good += 1
            if good >= 3:
                if waited:
                    log(f"  [{label}] machine quiet now (other processes {o:.0f}% of a core)")
                return
        else:
            good = 0
            if not waited:
                log(
                    f"  [{label}] other processes use {o:.0f}% of a core; waiting up to "
                    f"{cfg.quiet_wait:.0f}s for < {cfg.quiet_threshold:.0f}%"
                )
                waited = True
    log(f"  [{label}] machine still busy after {cfg.quiet_wait:.0f}s; measuring anyway")


def my_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# XML: incremental expat, tiny element objects
# --------------------------------------------------------------------------
class Elem:
    __slots__ = ("attrs", "children", "tag", "text")

    def __init__(self, tag, attrs):
        self.tag = tag.rsplit(":", 1)[-1]  # local name; prefixes only on stream:*
        self.attrs = attrs
        self.children = []
        self.text = ""

    def find(self, tag):
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def __repr__(self):
        return f"<{self.tag} {self.attrs} {[c.tag for c in self.children]} {self.text[:40]!r}>"


class LoginError(Exception):
    pass


# --------------------------------------------------------------------------
# SCRAM-SHA-1 client (RFC 5802), no channel binding ("n,,")
# --------------------------------------------------------------------------
SALTED_CACHE = {}  # (user, password, salt, i) -> SaltedPassword, as real clients keep it


def _saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


def _parse_scram(s):
    out = {}
    for part in s.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


# --------------------------------------------------------------------------
# The client connection
# --------------------------------------------------------------------------
class Conn(asyncio.Protocol):
    def __init__(self, cfg, user, password, resource_):
        self.cfg = cfg
        self.user = user
        self.password = password
        self.resource = resource_
        self.transport = None
        self.jid = None
        self.inbox = collections.deque()
        self.waiter = None
        self.closed = False
        self.close_reason = None
        self.on_message = None  # callback(conn, elem) once logged in
        self.on_batch = None  # callback() after each received chunk
        self.paused = False
        self.iterations = None
        self.mech = None
        self.unexpected = 0
        self._new_parser()

    # ---- parser ----
    def _new_parser(self):
        p = expat.ParserCreate()
        p.buffer_text = True
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        self.parser = p
        self.depth = 0
        self.stack = []

    def _start(self, name, attrs):
        self.depth += 1
        if self.depth == 1:
            self._deliver(Elem(name, attrs))  # stream header
            return
        e = Elem(name, attrs)
        if self.stack:
            self.stack[-1].children.append(e)
        self.stack.append(e)

    def _end(self, name):
        self.depth -= 1
        if self.depth == 0:
            self._lost("stream closed by server")
            return
        e = self.stack.pop()
        if self.depth == 1:
            if self.on_message is not None:
                if e.tag == "message":
                    self.on_message(self, e)
                elif e.tag == "iq" and e.attrs.get("type") in ("get", "set"):
                    self._answer_iq(e)
                elif e.tag == "error":
                    self._lost("stream error: " + ",".join(c.tag for c in e.children))
                else:
                    self.unexpected += 1
            else:
                self._deliver(e)

    def _chars(self, data):
        if self.stack:
            self.stack[-1].text += data

    def _answer_iq(self, e):
        a = e.attrs
        to = f" to={quoteattr(a['from'])}" if "from" in a else ""
        iid = quoteattr(a.get("id", ""))
        if e.find("ping") is not None:
            self.send(f"<iq type='result' id={iid}{to}/>")
        else:
            self.send(
                f"<iq type='error' id={iid}{to}><error type='cancel'><service-unavailable "
                f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )

    def _deliver(self, e):
        self.inbox.append(e)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _lost(self, why):
        if not self.closed:
            self.closed = True
            self.close_reason = why
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(LoginError(why))
        if self.transport is not None and why != "connection lost":
            self.transport.close()

    # ---- asyncio.Protocol ----
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            self.parser.Parse(data, False)
        except expat.ExpatError as ex:
            self._lost(f"XML error: {ex}")
            return
        if self.on_batch is not None:
            self.on_batch()

    def eof_received(self):
        self._lost("eof")
        return False

    def connection_lost(self, exc):
        self._lost("connection lost" if exc is None else f"connection lost: {exc}")

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.on_batch is not None:
            self.on_batch()

    # ---- helpers ----
    def send(self, s):
        if not self.closed:
            self.transport.write(s.encode() if isinstance(s, str) else s)

    async def recv(self):
        while not self.inbox:
            if self.closed:
                raise LoginError(self.close_reason)
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        return self.inbox.popleft()

    async def expect(self, *tags):
        e = await self.recv()
        if e.tag not in tags:
            raise LoginError(f"expected {tags}, got {e!r}")
        return e

    def open_stream(self):
        self._new_parser()
        self.send(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            f"to={quoteattr(self.cfg.domain)} version='1.0'>"
        )

    async def features(self):
        self.open_stream()
        await self.expect("stream")
        return await self.expect("features")

    def close(self):
        if not self.closed:
            with contextlib.suppress(Exception):
                self.transport.write(b"</stream:stream>")
            self.closed = True
            self.close_reason = "closed by us"
            self.transport.close()

    # ---- login ----
    async def login(self):
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        feats = await self.features()
        if feats.find("starttls") is not None and not cfg.no_tls:
            self.send(f"<starttls xmlns='{NS_TLS}'/>")
            await self.expect("proceed")
            self.transport = await loop.start_tls(
                self.transport,
                self,
                cfg.ssl_ctx,
                server_hostname=cfg.domain,
                ssl_handshake_timeout=cfg.login_timeout,
            )
            feats = await self.features()
        elif not cfg.no_tls:
            raise LoginError("server offers no STARTTLS")
        mechs_el = feats.find("mechanisms")
        mechs = [m.text for m in mechs_el.children] if mechs_el is not None else []
        for m in cfg.mechs:
            if m in mechs:
                self.mech = m
                break
        else:
            raise LoginError(f"no usable SASL mechanism in {mechs}")
        if self.mech == "PLAIN":
            tok = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
            self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{tok}</auth>")
            r = await self.expect("success", "failure")
            if r.tag == "failure":
                raise LoginError("SASL failure: " + ",".join(c.tag for c in r.children))
        else:
            await self._scram()
        feats = await self.features()
        if feats.find("bind") is None:
            raise LoginError("no bind feature")
        self.send(
            f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>"
            f"<resource>{escape(self.resource)}</resource></bind></iq>"
        )
        r = await self.expect("iq")
        if r.attrs.get("type") != "result":
            raise LoginError(f"bind failed: {r!r}")
        b = r.find("bind")
        j = b.find("jid") if b is not None else None
        self.jid = j.text if j is not None else f"{self.user}@{cfg.domain}/{self.resource}"
        sess = feats.find("session")
        if sess is not None and sess.find("optional") is None:
            self.send(f"<iq type='set' id='sess1'><session xmlns='{NS_SESSION}'/></iq>")
            await self.expect("iq")
        # initial presence, then a ping round trip so the server has processed it
        self.send(
            f"<presence/><iq type='get' id='ping1' to={quoteattr(cfg.domain)}>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
        )
        while True:
            e = await self.recv()
            if e.tag == "iq" and e.attrs.get("id") == "ping1":
                break
        self.inbox.clear()

    async def _scram(self):
        cnonce = base64.b64encode(os.urandom(18)).decode()
        cfb = f"n={_saslname(self.user)},r={cnonce}"
        tok = base64.b64encode(("n,," + cfb).encode()).decode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{tok}</auth>")
        ch = await self.expect("challenge", "failure")
        if ch.tag == "failure":
            raise LoginError("SASL failure: " + ",".join(c.tag for c in ch.children))
        sfirst = base64.b64decode(ch.text).decode()
        f = _parse_scram(sfirst)
        nonce, salt, it = f.get("r", ""), f.get("s", ""), int(f.get("i", "0"))
        if not nonce.startswith(cnonce) or not salt or it <= 0:
            raise LoginError(f"bad server-first-message {sfirst!r}")
        self.iterations = it
        key = (self.user, self.password, salt, it)
        salted = SALTED_CACHE.get(key)
        if salted is None:
            # PBKDF2 releases the GIL: run it on a thread so the event loop keeps going
            salted = await asyncio.get_running_loop().run_in_executor(
                None,
                hashlib.pbkdf2_hmac,
                "sha1",
                self.password.encode(),
                base64.b64decode(salt),
                it,
            )
            SALTED_CACHE[key] = salted
            self.cfg.pbkdf2_runs += 1
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        stored_key = hashlib.sha1(client_key).digest()
        cfwp = "c=biws,r=" + nonce
        auth_msg = f"{cfb},{sfirst},{cfwp}".encode()
        sig = hmac.digest(stored_key, auth_msg, "sha1")
        proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=False))
        resp = base64.b64encode(f"{cfwp},p={base64.b64encode(proof).decode()}".encode()).decode()
        self.send(f"<response xmlns='{NS_SASL}'>{resp}</response>")
        r = await self.expect("success", "challenge", "failure")
        if r.tag == "failure":
            raise LoginError("SASL failure: " + ",".join(c.tag for c in r.children))
        final = _parse_scram(base64.b64decode(r.text).decode()) if r.text else {}
        server_sig = hmac.digest(hmac.digest(salted, b"Server Key", "sha1"), auth_msg, "sha1")
        if "v" in final and base64.b64decode(final["v"]) != server_sig:
            raise LoginError("server signature mismatch")
        if r.tag == "challenge":
            self.send(f"<response xmlns='{NS_SASL}'/>")
            await self.expect("success")


# --------------------------------------------------------------------------
# Accounts and logins
# --------------------------------------------------------------------------
def username(cfg, i):
    return f"{cfg.prefix}{i}"


def password(cfg, i):
    return cfg.password.format(user=username(cfg, i), i=i)


async def connect_login(cfg, i, resource_):
    loop = asyncio.get_running_loop()
    conn = Conn(cfg, username(cfg, i), password(cfg, i), resource_)
    try:
        async with asyncio.timeout(cfg.login_timeout):
            await loop.create_connection(lambda: conn, cfg.host, cfg.port)
            await conn.login()
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        conn.closed = True
        raise
    return conn


class LoginStats:
    def __init__(self):
        self.ok = 0
        self.failed = 0
        self.errors = collections.Counter()
        self.durations = []
        self.iterations = collections.Counter()
        self.mechs = collections.Counter()


async def login_many(
    cfg, indices, concurrency, resource_fmt="load{i}", keep=True, label="login", stats=None
):
    """Log the accounts `indices` in, at most `concurrency` in flight.  Returns
    ({index: Conn} of open connections if keep, LoginStats)."""
    stats = stats or LoginStats()
    conns = {}
    it = iter(indices)
    total = len(indices)
    done = 0
    last = time.monotonic()

    async def worker():
        nonlocal done, last
        for i in it:
            t0 = time.perf_counter()
            try:
                c = await connect_login(cfg, i, resource_fmt.format(i=i))
            except (OSError, LoginError, TimeoutError, ssl.SSLError, ValueError) as ex:
                stats.failed += 1
                stats.errors[f"{type(ex).__name__}: {str(ex)[:120]}"] += 1
            else:
                stats.ok += 1
                stats.durations.append(time.perf_counter() - t0)
                stats.iterations[c.iterations] += 1
                stats.mechs[c.mech] += 1
                if keep:
                    conns[i] = c
                else:
                    c.close()
            done += 1
            now = time.monotonic()
            if now - last > 3:
                last = now
                log(f"  [{label}] {done}/{total} done, {stats.failed} failed")

    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))
    if keep:
        # long-lived connection objects: keep them out of the generator's cyclic GC scans
        gc.collect()
        gc.freeze()
    return conns, stats


def close_all(conns):
    for c in conns.values() if isinstance(conns, dict) else conns:
        c.close()


def _marker(cfg):
    key = json.dumps(
        [
            cfg.host,
            cfg.port,
            cfg.domain,
            cfg.prefix,
            cfg.password,
            cfg.create_accounts_bulk or cfg.create_account,
        ]
    )
    h = hashlib.sha1(key.encode()).hexdigest()[:16]
    return os.path.join("/tmp/xmpp-load-state", f"accounts-{cfg.port}-{h}")


async def create_accounts(cfg, n):
    """Create accounts 1..n, skipping those this tool already created with the same
    template for the same target (marker file in /tmp/xmpp-load-state)."""
    if cfg.accounts_exist or n <= 0:
        return
    marker = _marker(cfg)
    first = 1
    try:
        if not cfg.recreate_accounts:
            first = int(open(marker).read()) + 1
    except (OSError, ValueError):
        pass
    if first > n:
        log(f"accounts 1..{n} already created by an earlier run ({marker})")
        return
    if first > 1:
        log(f"accounts 1..{first - 1} already created by an earlier run ({marker})")
    await _create_accounts(cfg, first, n)
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as f:
        f.write(str(n))


async def _create_accounts(cfg, first, n):
    t0 = time.monotonic()
    if cfg.create_accounts_bulk:
        with tempfile.NamedTemporaryFile(
            "w", prefix="xmpp-load-accounts.", suffix=".txt", dir="/tmp", delete=False
        ) as f:
            for i in range(first, n + 1):
                f.write(f"{username(cfg, i)} {password(cfg, i)}\n")
            path = f.name
        cmd = cfg.create_accounts_bulk.format(file=shlex.quote(path))
        log(f"creating accounts {first}..{n} in bulk: {cmd}")
        p = await asyncio.create_subprocess_shell(cmd, stdin=asyncio.subprocess.DEVNULL)
        try:
            rc = await asyncio.wait_for(p.wait(), timeout=cfg.create_timeout * 20)
        finally:
            os.unlink(path)
        if rc != 0:
            sys.exit(f"bulk account creation failed (exit {rc})")
    elif cfg.create_account:
        log(
            f"creating accounts {first}..{n}, {cfg.create_parallel} at a time: {cfg.create_account}"
        )
        failures = []
        it = iter(range(first, n + 1))
        done = 0
        last = time.monotonic()

        async def worker():
            nonlocal done, last
            for i in it:
                u, pw = username(cfg, i), password(cfg, i)
                cmd = cfg.create_account.format(
                    user=shlex.quote(u),
                    password=shlex.quote(pw),
                    domain=shlex.quote(cfg.domain),
                    jid=shlex.quote(f"{u}@{cfg.domain}"),
                )
                p = await asyncio.create_subprocess_shell(
                    cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                try:
                    out, _ = await asyncio.wait_for(p.communicate(), timeout=cfg.create_timeout)
                except TimeoutError:
                    p.kill()
                    await p.wait()
                    out = b"timeout"
                if p.returncode != 0:
                    failures.append((u, out.decode(errors="replace").strip()[-300:]))
                done += 1
                if time.monotonic() - last > 5:
                    last = time.monotonic()
                    log(f"  [accounts] {done}/{n} ({len(failures)} non-zero exits)")

        await asyncio.gather(*(worker() for _ in range(cfg.create_parallel)))
        if failures:
            log(
                f"WARNING: {len(failures)} account commands exited non-zero (maybe they exist "
                f"already); first: {failures[0]}"
            )
    else:
        sys.exit("give --create-account, --create-accounts-bulk or --accounts-exist")
    log(f"accounts ready: {first}..{n} in {time.monotonic() - t0:.1f}s")


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100.0 * (len(s) - 1))))
    return s[k]


def r(x, nd=1):
    return None if x is None else round(x, nd)


def print_errors(stats):
    for e, n in stats.errors.most_common(5):
        log(f"    {n} x {e}")


# --------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------
async def phase_idle(cfg, srv, n):
    print(f"\n== idle: {n} authenticated TLS clients ==", flush=True)
    await srv.settle()
    await wait_quiet(cfg, srv, f"idle {n}")
    rss0, fds0 = srv.rss_kb(), srv.fds()
    # A garbage-collected server keeps heap freed by an earlier phase and reuses it;
    # measure from the lowest RSS seen before any idle phase of this run.
    if rss0 is not None:
        cfg.rss_baseline = min(rss0, getattr(cfg, "rss_baseline", rss0))
        base = cfg.rss_baseline
    g0 = my_rss_kb()
    t0 = time.monotonic()
    meter = Meter(srv)
    conns, st = await login_many(cfg, range(1, n + 1), cfg.concurrency, label=f"idle {n}")
    t_login = time.monotonic() - t0
    meter.stop()
    await srv.settle(max_wait=10)
    await asyncio.sleep(1)
    rss1, fds1 = srv.rss_kb(), srv.fds()
    g1 = my_rss_kb()
    ok = st.ok
    per = (rss1 - base) / ok if (rss0 is not None and ok) else None
    print(f"logged in {ok}/{n} in {t_login:.1f}s ({ok / t_login:.0f}/s), failed {st.failed}")
    print_errors(st)
    print("  during the logins: " + meter.report())
    if rss0 is not None:
        print(
            f"server RSS before {rss0 / 1024:.1f} MiB (baseline {base / 1024:.1f}), after "
            f"{rss1 / 1024:.1f} MiB -> {per:.1f} KB per idle authenticated TLS client"
        )
        print(f"server open fds before {fds0}, after {fds1}")
    print(f"generator RSS +{(g1 - g0) / 1024:.1f} MiB ({(g1 - g0) / max(ok, 1):.1f} KB/client)")
    log(f"  holding {ok} clients for {cfg.hold}s")
    await asyncio.sleep(cfg.hold)
    dropped = sum(1 for c in conns.values() if c.closed)
    rss2 = srv.rss_kb()
    close_all(conns)
    await asyncio.sleep(1)
    await srv.settle(max_wait=15)
    rss3 = srv.rss_kb()
    print(
        f"after {cfg.hold}s hold: {dropped} dropped by server; RSS at end of hold "
        f"{r(rss2 / 1024 if rss2 else None)} MiB, after closing all {r(rss3 / 1024 if rss3 else None)} MiB"
    )
    return {
        "clients": n,
        "logged_in": ok,
        "failed": st.failed,
        "login_seconds": r(t_login, 2),
        "server_rss_before_kb": rss0,
        "server_rss_baseline_kb": base if rss0 is not None else None,
        "server_rss_after_kb": rss1,
        "server_rss_after_close_kb": rss3,
        "kb_per_client": r(per),
        "server_fds_after": fds1,
        "dropped_during_hold": dropped,
        "generator_kb_per_client": r((g1 - g0) / max(ok, 1)),
        "other_cpu_pct": r(meter.result["other_pct"]),
    }


async def phase_login(cfg, srv, n):
    print(
        f"\n== login: {n} logins (connect, STARTTLS, SASL, bind, presence, close), "
        f"{cfg.login_concurrency} in flight ==",
        flush=True,
    )
    idx = list(range(1, n + 1))
    # Like a real client, the generator keeps SaltedPassword per account; fill that
    # cache first so the timed pass measures the server, not the client's PBKDF2.
    if "SCRAM-SHA-1" in cfg.mechs and not cfg.no_warm:
        known = {k[0] for k in SALTED_CACHE}
        cold = [i for i in idx if username(cfg, i) not in known]
        if cold:
            log(f"  warm-up: {len(cold)} untimed logins to cache the client-side SCRAM keys")
            _, wst = await login_many(cfg, cold, cfg.concurrency, keep=False, label="warm-up")
            if wst.failed:
                print_errors(wst)
    await srv.settle()
    await wait_quiet(cfg, srv, "login")
    meter = Meter(srv)
    c0, g0, t0 = srv.cpu(), my_cpu(), time.monotonic()
    pb0 = cfg.pbkdf2_runs
    _, st = await login_many(cfg, idx, cfg.login_concurrency, keep=False, label="login")
    t1 = time.monotonic()
    await asyncio.sleep(0.5)  # let the server finish closing the last sessions
    c1, g1 = srv.cpu(), my_cpu()
    meter.stop()
    dt = t1 - t0
    rate = st.ok / dt if dt else 0
    cpu_ms = (c1 - c0) * 1000 / st.ok if (c0 is not None and st.ok) else None
    gen_ms = (g1 - g0) * 1000 / st.ok if st.ok else None
    iters = dict(st.iterations)
    print(f"{st.ok} ok, {st.failed} failed in {dt:.2f}s -> {rate:.0f} logins/s")
    print_errors(st)
    if cpu_ms is not None:
        print(
            f"server CPU {c1 - c0:.2f}s -> {cpu_ms:.2f} CPU-ms per login "
            f"(server at {100 * (c1 - c0) / dt:.0f}% of a core)"
        )
    print(
        f"generator CPU {g1 - g0:.2f}s -> {gen_ms:.2f} ms per login "
        f"({cfg.pbkdf2_runs - pb0} client PBKDF2 runs in the timed pass)"
    )
    print(
        f"login time p50 {1000 * pct(st.durations, 50):.1f} ms, p99 "
        f"{1000 * pct(st.durations, 99):.1f} ms"
        if st.durations
        else "no logins"
    )
    print(meter.report())
    print(
        f"SASL mechanism {dict(st.mechs)}; SCRAM iteration count from server-first-message "
        f"(i=): {iters}"
    )
    return {
        "count": n,
        "ok": st.ok,
        "failed": st.failed,
        "seconds": r(dt, 2),
        "logins_per_s": r(rate),
        "server_cpu_ms_per_login": r(cpu_ms, 2),
        "server_cpu_pct": r(100 * (c1 - c0) / dt) if c0 is not None else None,
        "generator_cpu_ms_per_login": r(gen_ms, 2),
        "login_ms_p50": r(1000 * pct(st.durations, 50), 1) if st.durations else None,
        "login_ms_p99": r(1000 * pct(st.durations, 99), 1) if st.durations else None,
        "mechanism": ",".join(str(m) for m in st.mechs),
        "scram_iterations": ",".join(str(k) for k in iters if k) or None,
        "concurrency": cfg.login_concurrency,
        "other_cpu_pct": r(meter.result["other_pct"]),
    }


class Pair:
    __slots__ = ("active", "errors", "lat", "msg", "receiver", "recv", "sender", "sent", "window")

    def __init__(self, sender, receiver, msg, window):
        self.sender, self.receiver, self.msg, self.window = sender, receiver, msg, window
        self.sent = self.recv = self.errors = 0
        self.active = False
        self.lat = None

    def pump(self):
        if not self.active or self.sender.paused or self.sender.closed:
            return
        n = self.window - (self.sent - self.recv)
        if n > 0:
            self.sender.transport.write(self.msg * n)
            self.sent += n


async def make_pairs(cfg, npairs, label):
    conns, st = await login_many(cfg, range(1, 2 * npairs + 1), cfg.concurrency, label=label)
    if st.failed:
        print_errors(st)
    pairs = []
    for k in range(npairs):
        s, rcv = conns.get(2 * k + 1), conns.get(2 * k + 2)
        if s is None or rcv is None:
            continue
        pairs.append(Pair(s, rcv, None, cfg.window))
    if not pairs:
        raise SystemExit(f"{label}: no pair could log in")
    return conns, pairs


async def phase_throughput(cfg, srv, npairs, seconds):
    print(
        f"\n== throughput: {npairs} pairs, window {cfg.window} per pair, {seconds}s "
        f"(+{cfg.warmup}s warm-up) ==",
        flush=True,
    )
    conns, pairs = await make_pairs(cfg, npairs, "throughput")
    body = "x" * cfg.body_bytes
    for p in pairs:
        p.msg = (
            f"<message type='chat' to={quoteattr(p.receiver.jid)}><body>{body}</body></message>"
        ).encode()

        def on_msg(conn, e, p=p):
            if e.attrs.get("type") == "error":
                p.errors += 1
            else:
                p.recv += 1

        p.receiver.on_message = on_msg
        p.receiver.on_batch = p.pump
        p.sender.on_message = lambda conn, e, p=p: setattr(p, "errors", p.errors + 1)
        p.sender.on_batch = p.pump
    await srv.settle()
    await wait_quiet(cfg, srv, "throughput")
    for p in pairs:
        p.active = True
        p.pump()
    await asyncio.sleep(cfg.warmup)

    def snap():
        return (
            sum(p.recv for p in pairs),
            sum(p.sent for p in pairs),
            srv.cpu(),
            my_cpu(),
            time.monotonic(),
        )

    r0 = snap()
    meter = Meter(srv)
    samples = []
    prev = r0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(min(cfg.sample_interval, max(0.0, end - time.monotonic())))
        cur = snap()
        samples.append((cur[0] - prev[0]) / (cur[4] - prev[4]))
        prev = cur
    r1 = snap()
    meter.stop()
    for p in pairs:
        p.active = False
    t_stop = time.monotonic()
    while time.monotonic() - t_stop < cfg.drain:
        if all(p.recv >= p.sent for p in pairs) or all(p.receiver.closed for p in pairs):
            break
        await asyncio.sleep(0.05)
    sent = sum(p.sent for p in pairs)
    recv = sum(p.recv for p in pairs)
    errors = sum(p.errors for p in pairs)
    dropped = sum(1 for c in conns.values() if c.closed)
    reasons = collections.Counter(c.close_reason for c in conns.values() if c.closed)
    close_all(conns)
    dt = r1[4] - r0[4]
    rate = (r1[0] - r0[0]) / dt
    scpu = (r1[2] - r0[2]) if r0[2] is not None else None
    gcpu = r1[3] - r0[3]
    per1k = scpu / (r1[0] - r0[0]) * 1000 if scpu is not None and r1[0] > r0[0] else None
    print(
        f"{rate:.0f} messages/s delivered at saturation over {dt:.1f}s "
        f"(per-second min {min(samples):.0f}, max {max(samples):.0f})"
    )
    print(
        f"  rate per {cfg.sample_interval:g} s sample (msgs/s): "
        + " ".join(f"{x:.0f}" for x in samples)
    )
    if scpu is not None:
        print(
            f"server CPU {scpu:.2f}s = {100 * scpu / dt:.0f}% of a core -> "
            f"{per1k:.3f} CPU-s per 1,000 messages"
        )
    print(
        f"generator CPU {100 * gcpu / dt:.0f}% of a core "
        f"(if ~100% and the server is well below, the generator is the limit)"
    )
    print(meter.report())
    print(
        f"sent {sent}, received {recv}, lost {sent - recv} (after {cfg.drain}s drain), "
        f"error stanzas {errors}, connections dropped {dropped} {dict(reasons) if dropped else ''}"
    )
    await srv.settle()
    return {
        "pairs": len(pairs),
        "window": cfg.window,
        "seconds": r(dt, 1),
        "body_bytes": cfg.body_bytes,
        "msgs_per_s": r(rate, 0),
        "server_cpu_pct": r(100 * scpu / dt) if scpu is not None else None,
        "server_cpu_s_per_1k_msgs": r(per1k, 4),
        "generator_cpu_pct": r(100 * gcpu / dt),
        "sent": sent,
        "received": recv,
        "lost": sent - recv,
        "error_stanzas": errors,
        "dropped_connections": dropped,
        "other_cpu_pct": r(meter.result["other_pct"]),
    }


async def phase_latency(cfg, srv, rate, seconds, npairs):
    print(f"\n== latency: {rate} msgs/s paced over {npairs} pairs for {seconds}s ==", flush=True)
    conns, pairs = await make_pairs(cfg, npairs, "latency")
    lat = []
    counts = {"recv": 0, "errors": 0}
    mono = time.monotonic_ns

    def on_msg(conn, e):
        now = mono()
        if e.attrs.get("type") == "error":
            counts["errors"] += 1
            return
        b = e.find("body")
        if b is not None and b.text.startswith("t"):
            lat.append((now - int(b.text[1:])) / 1e6)
            counts["recv"] += 1

    prefixes = []
    for p in pairs:
        p.receiver.on_message = on_msg
        p.sender.on_message = lambda c, e: counts.__setitem__("errors", counts["errors"] + 1)
        prefixes.append((p.sender, f"<message type='chat' to={quoteattr(p.receiver.jid)}><body>t"))
    await srv.settle()
    await wait_quiet(cfg, srv, "latency")
    c0, g0 = srv.cpu(), my_cpu()
    meter = Meter(srv)
    sent = 0
    k = 0
    npf = len(prefixes)
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - t0) * rate)
        while sent < due:
            s, pre = prefixes[k]
            k = (k + 1) % npf
            if not s.closed:
                s.transport.write(f"{pre}{mono()}</body></message>".encode())
            sent += 1
        await asyncio.sleep(0.001)
    t1 = time.monotonic()
    while time.monotonic() - t1 < cfg.drain and counts["recv"] < sent:
        await asyncio.sleep(0.05)
    c1, g1 = srv.cpu(), my_cpu()
    meter.stop()
    dropped = sum(1 for c in conns.values() if c.closed)
    close_all(conns)
    recv = counts["recv"]
    dt = t1 - t0
    p50, p90, p99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
    mx = max(lat) if lat else None
    print(
        f"sent {sent} ({sent / dt:.0f}/s achieved), received {recv}, lost {sent - recv}, "
        f"error stanzas {counts['errors']}, connections dropped {dropped}"
    )
    if lat:
        print(f"one-way latency ms: p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f}  max {mx:.2f}")
    if c0 is not None:
        busy = t1 - t0 + min(cfg.drain, time.monotonic() - t1)
        print(
            f"server CPU at this rate: {100 * (c1 - c0) / busy:.0f}% of a core; "
            f"generator {100 * (g1 - g0) / busy:.0f}%"
        )
    print(meter.report())
    await srv.settle()
    return {
        "rate": rate,
        "pairs": len(pairs),
        "seconds": r(dt, 1),
        "sent": sent,
        "received": recv,
        "lost": sent - recv,
        "error_stanzas": counts["errors"],
        "p50_ms": r(p50, 2),
        "p90_ms": r(p90, 2),
        "p99_ms": r(p99, 2),
        "max_ms": r(mx, 2),
        "server_cpu_pct": r(100 * (c1 - c0) / (t1 - t0)) if c0 is not None else None,
        "other_cpu_pct": r(meter.result["other_pct"]),
    }


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------
ROWS = [
    # (label, path in the json, format)
    ("idle {n}: KB server RSS per idle TLS client", "idle.{n}.kb_per_client", "{:.1f}"),
    ("idle {n}: logged in / failed", "idle.{n}.logged_in|idle.{n}.failed", "{}/{}"),
    ("idle {n}: server RSS after login (MiB)", "idle.{n}.server_rss_after_kb", "mib"),
    ("login: logins/s", "login.logins_per_s", "{:.0f}"),
    ("login: server CPU-ms per login", "login.server_cpu_ms_per_login", "{:.2f}"),
    ("login: p50 / p99 login time (ms)", "login.login_ms_p50|login.login_ms_p99", "{}/{}"),
    ("login: SASL mechanism, SCRAM i=", "login.mechanism|login.scram_iterations", "{} i={}"),
    ("throughput: messages/s", "throughput.msgs_per_s", "{:.0f}"),
    ("throughput: server CPU-s per 1,000 msgs", "throughput.server_cpu_s_per_1k_msgs", "{:.4f}"),
    (
        "throughput: server / generator CPU %",
        "throughput.server_cpu_pct|throughput.generator_cpu_pct",
        "{}/{}",
    ),
    (
        "throughput: sent / received / lost",
        "throughput.sent|throughput.received|throughput.lost",
        "{}/{}/{}",
    ),
    ("latency: rate (msgs/s)", "latency.rate", "{}"),
    (
        "latency: p50 / p90 / p99 / max ms",
        "latency.p50_ms|latency.p90_ms|latency.p99_ms|latency.max_ms",
        "{}/{}/{}/{}",
    ),
    ("latency: sent / received / lost", "latency.sent|latency.received|latency.lost", "{}/{}/{}"),
    ("idle {n}: other processes' CPU % during logins", "idle.{n}.other_cpu_pct", "{}"),
    ("login: other processes' CPU %", "login.other_cpu_pct", "{}"),
    ("throughput: other processes' CPU %", "throughput.other_cpu_pct", "{}"),
    ("latency: other processes' CPU %", "latency.other_cpu_pct", "{}"),
]


def _get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def summary_rows(res):
    idle_ns = list(res.get("idle", {}).keys())
    out = []
    for label, paths, fmt in ROWS:
        if paths.split(".")[0] not in res:
            continue
        for n in idle_ns if "{n}" in label else [None]:
            lab = label.format(n=n) if n else label
            vals = [_get(res, p.format(n=n) if n else p) for p in paths.split("|")]
            out.append((lab, fmt_vals(vals, fmt)))
    return out


def fmt_vals(vals, fmt):
    if all(v is None for v in vals):
        return "-"
    if fmt == "mib":
        return f"{vals[0] / 1024:.1f}" if vals[0] is not None else "-"
    try:
        return fmt.format(*vals)
    except (ValueError, TypeError):
        return "/".join(str(v) for v in vals)


def print_summary(res, title):
    print(f"\n### {title}\n")
    print("| figure | value |\n|---|---|")
    for lab, v in summary_rows(res):
        print(f"| {lab} | {v} |")


def cmd_compare(files, names):
    data = [json.load(open(f)) for f in files]
    names = (
        names.split(",")
        if names
        else [d.get("meta", {}).get("name") or f for d, f in zip(data, files, strict=False)]
    )
    rows = [dict(summary_rows(d)) for d in data]
    labels = []
    for d in data:
        for lab, _ in summary_rows(d):
            if lab not in labels:
                labels.append(lab)
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for lab in labels:
        print(f"| {lab} | " + " | ".join(rw.get(lab, "-") for rw in rows) + " |")
    for d, n in zip(data, names, strict=False):
        m = d.get("meta", {})
        print(f"\n{n}: {m.get('command', '')}")


# --------------------------------------------------------------------------
async def amain(cfg):
    srv = ServerProc(cfg.server_pid)
    res = {
        "meta": {
            "name": cfg.name,
            "host": cfg.host,
            "port": cfg.port,
            "domain": cfg.domain,
            "server_pid": cfg.server_pid,
            "command": " ".join(map(shlex.quote, sys.argv)),
            "loop": cfg.loop_name,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    }
    ph = cfg.phase
    if ph == "all":
        want = {x.strip() for x in cfg.phases.split(",") if x.strip()}
        bad = want - {"idle", "login", "throughput", "latency"}
        if bad:
            sys.exit(f"unknown --phases {sorted(bad)}")
    else:
        want = {ph}

    def run(name):
        return name in want

    need = 0
    if run("idle"):
        need = max(need, max(cfg.idle_clients))
    if run("login"):
        need = max(need, cfg.count)
    if run("throughput"):
        need = max(need, 2 * cfg.pairs)
    if run("latency"):
        need = max(need, 2 * cfg.latency_pairs)
    await create_accounts(cfg, need)
    if srv.pid and not srv.alive():
        sys.exit(f"server pid {srv.pid} not running")

    def save():
        if cfg.json:
            with open(cfg.json, "w") as f:
                json.dump(res, f, indent=2)

    if run("idle"):
        res["idle"] = {}
        for n in cfg.idle_clients:
            res["idle"][str(n)] = await phase_idle(cfg, srv, n)
            save()
    if run("login"):
        res["login"] = await phase_login(cfg, srv, cfg.count)
        save()
    if run("throughput"):
        res["throughput"] = await phase_throughput(cfg, srv, cfg.pairs, cfg.seconds)
        save()
    if run("latency"):
        res["latency"] = await phase_latency(
            cfg, srv, cfg.rate, cfg.latency_seconds, cfg.latency_pairs
        )
        save()
    if srv.pid and not srv.alive():
        print("WARNING: the server process is gone")
    print_summary(res, f"{cfg.name or cfg.host + ':' + str(cfg.port)} ({cfg.phase})")
    save()
    return res


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--name", default="", help="label for the summary / compare table")
    ap.add_argument(
        "--server-pid",
        type=int,
        default=0,
        help="server PID: RSS and utime+stime (with descendants) read from /proc",
    )
    ap.add_argument(
        "--prefix", default="bench", help="account localpart prefix (bench1, bench2...)"
    )
    ap.add_argument("--password", default="bench-pass-{i}", help="password; {user} and {i} expand")
    ap.add_argument(
        "--create-account",
        help="shell template run once per account: {user} {password} {jid} {domain}",
    )
    ap.add_argument(
        "--create-accounts-bulk", help="shell template run once: {file} of 'user password' lines"
    )
    ap.add_argument("--accounts-exist", action="store_true")
    ap.add_argument(
        "--recreate-accounts",
        action="store_true",
        help="run the creation command(s) for all accounts even if an earlier run "
        "with the same command and port did (state in /tmp/xmpp-load-state)",
    )
    ap.add_argument("--create-parallel", type=int, default=4)
    ap.add_argument("--create-timeout", type=float, default=60.0)
    ap.add_argument("--mech", default="SCRAM-SHA-1,PLAIN", help="SASL preference order")
    ap.add_argument(
        "--no-tls", action="store_true", help="skip STARTTLS (only if the server allows)"
    )
    ap.add_argument("--concurrency", type=int, default=200, help="logins in flight (idle, pairs)")
    ap.add_argument("--login-timeout", type=float, default=60.0)
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--json", help="write figures as JSON")
    ap.add_argument(
        "--phases",
        default="idle,login,throughput,latency",
        help="all: which phases to run (in this order)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each phase wait up to this many seconds until other processes "
        "use < --quiet-threshold %% of a core (0: don't wait)",
    )
    ap.add_argument("--quiet-threshold", type=float, default=20.0)
    ap.add_argument(
        "--idle-clients", default="1000", help="idle: comma list for `all` (e.g. 1000,10000)"
    )
    ap.add_argument("--clients", type=int, help="idle: N (overrides --idle-clients)")
    ap.add_argument("--hold", type=float, default=5.0, help="idle: seconds to keep the clients")
    ap.add_argument("--count", type=int, default=2000, help="login: number of logins")
    ap.add_argument("--login-concurrency", type=int, default=50, help="login: logins in flight")
    ap.add_argument(
        "--no-warm",
        action="store_true",
        help="login: do not pre-fill the client SCRAM key cache (then client PBKDF2 is in the timing)",
    )
    ap.add_argument("--pairs", type=int, default=50, help="throughput: sender/receiver pairs")
    ap.add_argument(
        "--window", type=int, default=100, help="throughput: messages in flight per pair"
    )
    ap.add_argument("--body-bytes", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=15.0, help="throughput: measured seconds")
    ap.add_argument(
        "--sample-interval",
        type=float,
        default=1.0,
        help="throughput: print the delivery rate per interval of this many seconds",
    )
    ap.add_argument(
        "--warmup", type=float, default=2.0, help="throughput: unmeasured seconds first"
    )
    ap.add_argument("--drain", type=float, default=5.0, help="seconds to wait for stragglers")
    ap.add_argument("--rate", type=int, default=2000, help="latency: aggregate messages/s")
    ap.add_argument("--latency-seconds", type=float, default=15.0)
    ap.add_argument("--latency-pairs", type=int, default=20)
    ap.add_argument("phase", choices=["idle", "login", "throughput", "latency", "all", "compare"])
    ap.add_argument("files", nargs="*", help="compare: JSON files")
    ap.add_argument("--names", help="compare: column names, comma separated")
    cfg = ap.parse_intermixed_args()
    if cfg.phase == "compare":
        cmd_compare(cfg.files, cfg.names)
        return
    if cfg.phase == "latency" and "--seconds" in sys.argv and "--latency-seconds" not in sys.argv:
        cfg.latency_seconds = cfg.seconds
    cfg.idle_clients = (
        [cfg.clients] if cfg.clients else [int(x) for x in cfg.idle_clients.split(",")]
    )
    cfg.mechs = [m.strip().upper() for m in cfg.mech.split(",")]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    cfg.ssl_ctx = ctx
    cfg.pbkdf2_runs = 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    want = max(cfg.idle_clients) if cfg.phase in ("idle", "all") else 0
    if want + 100 > soft:
        log(
            f"WARNING: open-files limit {soft} < {want} clients + margin; logins will fail with EMFILE"
        )
    runner = asyncio.run
    cfg.loop_name = "asyncio"
    if not cfg.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
            cfg.loop_name = f"uvloop {uvloop.__version__}"
        except ImportError:
            pass
    log(f"event loop: {cfg.loop_name}; open-files limit {soft}")
    try:
        runner(amain(cfg))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

"""Where Spark runs: the process's sessions, one per master, local (classic) or Spark Connect.

A check names its master with ``--master`` (or the embedding API's ``master``); without one,
``SPARK_REMOTE`` chooses Spark Connect, else a local ``local[2]`` session. Two kinds of roots:

* **Spark Connect** (``sc://host:port``): a gRPC client of a server that runs the plan (and reads
  the staging Parquet: on a cluster it must be a shared mount). Each check opens its own server
  session (``create``: its views and settings are nobody else's) and releases it at the end. Any
  number of Connect servers can be used side by side, and next to a local session.
* **Classic** (``local[N]``, ``spark://``, ``yarn``...): a JVM driver inside this process. A process
  has at most one SparkContext, so one classic master at a time: asking for another one stops the
  idle current session and starts the new one (the JVM, and so the driver memory of
  ``BILLING_RULES_SPARK_MEMORY``, stays the first one's); while a check still runs on the current
  one, or when the running SparkContext was started by someone else (an embedding application), the
  request is refused in French, naming both masters, never silently run on the wrong one.

The client is built from pyspark's own classes for each kind (``pyspark.sql.connect`` for Connect,
``SparkContext`` for classic), not from ``SparkSession.builder``, whose choice depends on the
process's environment (``SPARK_REMOTE``, ``SPARK_CONNECT_MODE_ENABLED``): ``--master local[2]``
stays local even when ``SPARK_REMOTE`` is set.

Every session runs in UTC with ANSI SQL on: nothing the plan computes depends on a time zone (the
timestamps are ``TIMESTAMP_NTZ``), and a failed cast is an error, never a silent NULL.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import Any

from billing_rules.engines.relational.spark_driver import CLASSIC_SESSION_CONF, driver_settings
from billing_rules.errors import BillingRulesError

DEFAULT_MASTER = "local[2]"
#: Session settings every check relies on (set on each session, local or remote).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}
CONNECT_PORT = 15002
CONNECT_TIMEOUT = 5.0
#: Seconds the first call to a Connect server may take, retries included: a port that accepts
#: connections and never answers (a proxy, a server still starting) is said unreachable, not
#: waited for (pyspark's default retries alone would wait about ten minutes).
PROBE_TIMEOUT = 15.0
#: Retries of that first call: a few, quickly (pyspark's own policy, fewer and shorter waits).
PROBE_RETRIES = 3
PROBE_MAX_BACKOFF_MS = 1000
#: What the Spark Connect client imports (module, the distribution that provides it): pyspark's
#: ``connect`` extra, installed by ``billing-rules[spark-connect]``.
CONNECT_MODULES = (
    ("grpc", "grpcio"),
    ("grpc_status", "grpcio-status"),
    ("google.rpc", "googleapis-common-protos"),
    ("pandas", "pandas"),
    ("pyarrow", "pyarrow"),
    ("zstandard", "zstandard"),
)
CONNECT_EXTRA = "pip install 'billing-rules[spark-connect]'"
NO_PYSPARK = "--engine spark demande l'extra spark : pip install 'billing-rules[spark]'"

#: The process's roots, by master key; a classic one is a SparkSession, a Connect one the URL's
#: first client session (it proves the server answers; each check opens its own).
_ROOT: dict[str, Any] = {}
#: Checks running on each classic root: a busy session is never stopped for another master.
_BUSY: collections.Counter[str] = collections.Counter()
_LOCK = threading.RLock()


def pyspark_installed() -> bool:
    """Whether pyspark can be imported (without importing it)."""
    return importlib.util.find_spec("pyspark") is not None


def connect_missing() -> str | None:
    """The first distribution the Spark Connect client lacks here, or None (nothing is imported)."""
    for module, distribution in CONNECT_MODULES:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            return distribution
    return None


def remote_url(master: str | None = None) -> str | None:
    """The Spark Connect URL to use: ``--master sc://...``, else ``SPARK_REMOTE``, else none."""
    if master is not None:
        return master if master.startswith("sc://") else None
    return os.environ.get("SPARK_REMOTE") or None


def master_key(master: str | None = None) -> str:
    """The master a check with ``master`` runs on: itself, else ``SPARK_REMOTE``, else ``local[2]``."""
    return master or remote_url() or DEFAULT_MASTER


def is_connect(key: str) -> bool:
    """Whether a master key names a Spark Connect server."""
    return key.startswith("sc://")


def java_available() -> bool:
    """Whether a local session can start: a ``java`` on the PATH or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def session(master: str | None = None) -> Any:
    """The process's root session for ``master``, started on first use (5-7 s for a local one).

    Raises :class:`BillingRulesError` (French) when it cannot: pyspark, Java or the Connect client's
    dependencies missing, a Connect server unreachable, another classic master busy in this process.
    """
    key = master_key(master)
    with _LOCK:
        found = _ROOT.get(key)
        if found is not None and (is_connect(key) or _alive(found)):
            return found
        _ROOT.pop(key, None)
        if not pyspark_installed():
            raise BillingRulesError(NO_PYSPARK)
        if not is_connect(key):
            # The CLI hands SPARK_REMOTE's value over as the master: the variable is named then.
            _check_master(key, from_remote=key == os.environ.get("SPARK_REMOTE"))
        spark = _connect(key) if is_connect(key) else _local(key)
        _ROOT[key] = spark
        return spark


def check_session(master: str | None = None) -> tuple[Any, str]:
    """A session of the check's own (its temporary views are nobody else's), and its root's key.

    Pair with :func:`release`. A classic root hands out sessions sharing its JVM and cache; a
    Connect one opens a new server session on the same server.
    """
    key = master_key(master)
    with _LOCK:
        root = session(master)
        if is_connect(key):
            own = _connect_client(key)
        else:
            own = root.newSession()
            _BUSY[key] += 1
    if is_connect(key):
        # Its first call bounded as the root's was: a server that stopped answering since is said
        # unreachable within seconds, not after pyspark's ten minutes of retries.
        return _answering(own, key), key
    try:
        configure(own)
        for name, value in CLASSIC_SESSION_CONF.items():
            own.conf.set(name, value)
    except BaseException:
        release(own, key)
        raise
    return own, key


def release(own: Any, key: str) -> None:
    """The end of a check's session: a Connect one is released on the server; a classic one is freed."""
    with _LOCK:
        if is_connect(key):
            own.stop()  # releases the server session (its views, its settings) and the channel
        elif _BUSY[key] > 0:
            _BUSY[key] -= 1


def close_clients() -> None:
    """Close the process's Spark Connect clients (registered to run at exit).

    Left to pyspark's finaliser, a client's gRPC channel is closed during the interpreter's
    shutdown, when gRPC's threads may be gone already: the process then never ends.
    """
    with _LOCK:
        for key in [name for name in _ROOT if is_connect(name)]:
            _ROOT.pop(key).stop()


atexit.register(close_clients)


def configure(spark: Any) -> None:
    """The settings of :data:`SESSION_CONF`, on a session local or remote."""
    for name, value in SESSION_CONF.items():
        spark.conf.set(name, value)


def _alive(spark: Any) -> bool:
    context = getattr(spark, "_sc", None)
    return context is not None and getattr(context, "_jsc", None) is not None


def _local(key: str) -> Any:
    """A classic session on ``key``, after stopping the idle session of another master, if any."""
    if not java_available():
        raise BillingRulesError(
            "--engine spark demande Java (17 ou plus) : installez un JRE (par exemple "
            "openjdk-17-jre-headless) ou indiquez JAVA_HOME"
        )
    for other in [name for name in _ROOT if not is_connect(name)]:
        if _BUSY[other]:
            raise _second_master(other, key, "une vérification y tourne encore")
        _ROOT.pop(other).stop()
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    running = SparkContext._active_spark_context
    if running is not None:
        if running.master != key:
            raise _second_master(str(running.master), key, "démarrée hors de billing-rules")
        return SparkSession(running)
    settings = driver_settings(key, SESSION_CONF)
    conf = SparkConf().setMaster(key).setAppName("billing-rules").setAll(list(settings.items()))
    before = _sigint_handler()
    try:
        with _without_remote():
            context = SparkContext(conf=conf)
    except Exception as exc:  # noqa: BLE001 - the JVM did not start: say so in French
        if "Could not parse Master URL" in str(exc):
            raise BillingRulesError(_bad_master(key)) from None
        raise BillingRulesError(
            f"Spark n'a pas pu démarrer ({_start_failure(exc)}) : vérifiez Java"
        ) from None
    _keep_sigint(before, context)
    context.setLogLevel("ERROR")
    return SparkSession(context)


def _start_failure(exc: BaseException) -> str:
    """The condition pyspark names, which says more than the class (not its English message)."""
    condition = getattr(exc, "getCondition", None)
    name = condition() if callable(condition) else None
    if name == "JAVA_GATEWAY_EXITED":
        return f"{name} : la JVM s'est arrêtée avant de répondre ; ses messages sont au-dessus"
    return str(name) if name else type(exc).__name__


def _sigint_handler() -> Any:
    """The SIGINT handler in place (None off the main thread, where none can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGINT)


def _keep_sigint(before: Any, context: Any) -> None:
    """Put back the SIGINT handler ``SparkContext`` replaced, cancelling Spark's jobs as pyspark's did.

    pyspark's own handler (cancel the jobs, raise ``KeyboardInterrupt``) hides the CLI's
    (:mod:`billing_rules.interrupt`), which notes that the user really pressed Ctrl-C: without it a
    Ctrl-C during a check would be taken for a plugin's ``KeyboardInterrupt`` and reported as an
    internal error. The handler that was there keeps deciding; Spark's jobs are cancelled whenever
    it raises. A handler that is no Python function (ignored, default) is left to pyspark's.
    """
    if not callable(before) or _sigint_handler() in (None, before):
        return

    def cancel() -> None:
        with contextlib.suppress(Exception):
            context.cancelAllJobs()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        try:
            before(signum, frame)
        except KeyboardInterrupt:
            # From another thread (its own py4j connection): the main thread may be inside a py4j
            # call, and cancelling from the handler would re-enter that call's socket.
            threading.Thread(target=cancel, name="billing-rules-spark-cancel", daemon=True).start()
            raise

    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, on_sigint)
    logging.getLogger().addFilter(_QUIET_AFTER_CTRL_C)


class _Py4jAfterCtrlC(logging.Filter):
    """Drops py4j's tracebacks of a call the user's Ctrl-C broke (logged on the root logger).

    A Ctrl-C during a py4j call makes py4j log « KeyboardInterrupt while sending command » with
    its traceback through ``logging.exception`` (the root logger), some forty lines on the terminal
    before the CLI's « interrompu (Ctrl-C) ». Only py4j's records, only once the user pressed
    Ctrl-C (:func:`billing_rules.interrupt.received`): anything else is logged as before.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from billing_rules import interrupt

        return not (interrupt.received() and f"{os.sep}py4j{os.sep}" in record.pathname)


_QUIET_AFTER_CTRL_C = _Py4jAfterCtrlC()


@contextlib.contextmanager
def _without_remote() -> Iterator[None]:
    """``SPARK_REMOTE`` hidden while the local JVM starts (``--master local[2]`` with it set).

    pyspark starts the JVM with ``spark-submit`` in this process's environment, and spark-submit
    with ``SPARK_REMOTE`` set refuses to start a local driver. Held under the sessions' lock.
    """
    saved = os.environ.pop("SPARK_REMOTE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["SPARK_REMOTE"] = saved


def _second_master(running: str, wanted: str, why: str) -> BillingRulesError:
    return BillingRulesError(
        f"Spark tourne déjà dans ce processus avec --master {running} ({why}) : impossible d'y "
        f"démarrer --master {wanted}, un processus n'a qu'une session Spark locale (lancez une "
        "autre commande, ou utilisez Spark Connect avec --master sc://...)"
    )


def _connect(url: str) -> Any:
    """The URL's first client session: the server is reached first, so a wrong address fails in seconds."""
    import socket

    missing = connect_missing()
    if missing is not None:
        raise _no_client(missing)
    try:
        socket.create_connection(_address(url), timeout=CONNECT_TIMEOUT).close()
    except OSError:
        raise BillingRulesError(_unreachable(url)) from None
    return _answering(_connect_client(url), url)


def _answering(spark: Any, url: str) -> Any:
    """``spark`` once its server has answered its first call (:func:`_probe`), else dropped.

    Raises:
        BillingRulesError: the port answers but no Spark Connect server behind it, or none in time.
    """
    try:
        _probe(spark)
    except Exception:  # noqa: BLE001 - whatever the client raised, the server did not answer
        _abandon(spark)
        raise BillingRulesError(_unreachable(url)) from None
    return spark


def _address(url: str) -> tuple[str, int]:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        raise BillingRulesError(
            f"adresse Spark Connect invalide « {url} » : le port doit être un nombre (sc://hôte:15002)"
        ) from None
    return parsed.hostname or "localhost", port or CONNECT_PORT


#: Classic masters Spark accepts (``SparkContext.createTaskScheduler``): checked before the JVM
#: starts, so that a typo is said as such (not « vérifiez Java » after a JVM trace).
_LOCAL_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(, *[1-9][0-9]*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[ *[1-9][0-9]* *, *[1-9][0-9]* *, *[1-9][0-9]* *\]")
_CLUSTER_PREFIXES = ("yarn", "k8s://", "mesos://")
_STANDALONE = re.compile(r"spark://([^,/:]+):([0-9]+)(,([^,/:]+):([0-9]+))*")


def _bad_master(key: str, *, from_remote: bool = False) -> str:
    if from_remote:
        return (
            f"SPARK_REMOTE={key} n'est pas une adresse Spark Connect : attendu sc://hôte:port "
            "(par exemple sc://localhost:15002)"
        )
    return (
        f"--master {key} n'est pas une URL de master Spark valide : attendu local, local[N], "
        "local[*], spark://hôte:port, yarn, k8s://... ou sc://hôte:port (Spark Connect)"
    )


def _check_master(key: str, *, from_remote: bool = False) -> None:
    """Refuse, in French, a classic master Spark could not parse or a standalone one not answering.

    A ``spark://`` master that nobody answers would otherwise hold the command a minute before an
    internal error: its addresses are tried first (as Spark Connect's are).
    """
    if from_remote:
        raise BillingRulesError(_bad_master(key, from_remote=True))
    if _LOCAL_MASTER.fullmatch(key) or _LOCAL_CLUSTER.fullmatch(key) or key.startswith(_CLUSTER_PREFIXES):
        return
    if not _STANDALONE.fullmatch(key):
        raise BillingRulesError(_bad_master(key))
    import socket

    addresses = [item.rsplit(":", 1) for item in key.removeprefix("spark://").split(",")]
    for host, port in addresses:
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
            return
        except (OSError, ValueError, OverflowError):
            continue
    where = ", ".join(f"{host}:{port}" for host, port in addresses)
    raise BillingRulesError(
        f"master Spark injoignable à {where} (--master {key}) : vérifiez l'adresse et que le master "
        "Spark est démarré"
    )


def _unreachable(url: str) -> str:
    host, port = _address(url)
    return (
        f"Spark Connect injoignable à {host}:{port} : vérifiez SPARK_REMOTE ou --master, et que le "
        "serveur Spark Connect est démarré"
    )


def _probe(spark: Any) -> None:
    """:func:`configure` the new session, with few retries and within :data:`PROBE_TIMEOUT`.

    The call runs in a thread so that a server that never answers cannot hold the command: after
    the timeout the caller closes the channel, which ends the call and its thread. Once the server
    has answered, the client's own retry policies are back for the real work.
    """
    from pyspark.sql.connect.client.retries import DefaultPolicy

    client = spark.client
    policies = client.get_retry_policies()
    client.set_retry_policies([DefaultPolicy(max_retries=PROBE_RETRIES, max_backoff=PROBE_MAX_BACKOFF_MS)])
    failure: list[BaseException] = []

    def call() -> None:
        try:
            with warnings.catch_warnings():  # pyspark's English warning when its retries run out
                warnings.simplefilter("ignore")
                configure(spark)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=call, name="billing-rules-connect-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if thread.is_alive():
        raise TimeoutError("Spark Connect: no answer")
    if failure:
        raise failure[0]
    client.set_retry_policies(policies)


def _abandon(spark: Any) -> None:
    """Drop a client whose server did not answer: its channel first (no release call to wait for)."""
    with contextlib.suppress(Exception):
        spark.client.close()
    with contextlib.suppress(Exception):
        spark.stop()


def _connect_client(url: str) -> Any:
    """A new Spark Connect session on ``url`` (a client of pyspark's own Connect classes)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.builder.remote(url).create()
    except ImportError as exc:
        raise _no_client(exc.name or "grpcio") from None


def _no_client(distribution: str) -> BillingRulesError:
    return BillingRulesError(f"Spark Connect demande ses dépendances ({distribution}) : {CONNECT_EXTRA}")

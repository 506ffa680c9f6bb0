#!/usr/bin/env python3
"""Starts and stops a PostgreSQL server of its own for the tests (a ctest fixture).

    postgresql_server.py start STATE_DIR   initdb into STATE_DIR/data, start on a free
                                            port of 127.0.0.1, write the admin connection
                                            string to STATE_DIR/connection
    postgresql_server.py stop STATE_DIR    stop it (fast, then immediate) and remove it

The server is Debian's `postgresql` package. It refuses to run as root, so as root it
runs as the `postgres` system user; otherwise as the user running the tests. Only local
trusted connections: it serves tests, nothing else. A server left running by an
interrupted run in the same STATE_DIR is stopped before a new one starts.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile


def bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
    if not found:
        sys.exit("PostgreSQL is not installed (Debian package postgresql)")
    return os.path.dirname(found[-1])


def server_user():
    """The account the server runs as: postgres when we are root."""
    return "postgres" if os.geteuid() == 0 else None


def run_as(user, args, **kwargs):
    if user:
        args = ["runuser", "-u", user, "--"] + args
    return subprocess.run(args, check=True, **kwargs)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_dir(state):
    """The data directory: in STATE_DIR when the server's user can reach it, else a fresh
    directory under the temporary directory, named in STATE_DIR/data-dir."""
    pointer = os.path.join(state, "data-dir")
    if os.path.exists(pointer):
        with open(pointer) as f:
            return f.read().strip()
    return os.path.join(state, "data")


def make_owned(path, user, create=True):
    """A directory only the server's user may enter."""
    if create:
        os.makedirs(path, mode=0o700)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def stop(state):
    data = data_dir(state)
    user = server_user()
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        for mode in ("fast", "immediate"):
            try:
                run_as(user, [os.path.join(bindir(), "pg_ctl"), "-D", data, "-m", mode,
                              "-t", "30", "-w", "stop"], cwd="/", stdout=subprocess.DEVNULL)
                break
            except subprocess.CalledProcessError:
                continue
    shutil.rmtree(data, ignore_errors=True)
    if os.path.exists(os.path.join(state, "data-dir")):
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    for name in ("data-dir", "connection"):
        try:
            os.remove(os.path.join(state, name))
        except FileNotFoundError:
            pass


def start(state):
    os.makedirs(state, exist_ok=True)
    stop(state)
    user = server_user()
    data = os.path.join(state, "data")
    make_owned(data, user)
    if user and subprocess.run(["runuser", "-u", user, "--", "test", "-w", data]).returncode:
        # The build tree is out of the postgres user's reach: a directory of its own.
        os.rmdir(data)
        parent = tempfile.mkdtemp(prefix="sceau-postgresql-")
        make_owned(parent, user, create=False)
        data = os.path.join(parent, "data")
        make_owned(data, user)
        with open(os.path.join(state, "data-dir"), "w") as f:
            f.write(data + "\n")

    tools = bindir()
    run_as(user, [os.path.join(tools, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync"], cwd="/", stdout=subprocess.DEVNULL)
    port = free_port()
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
               "-c max_connections=200")
    run_as(user, [os.path.join(tools, "pg_ctl"), "-D", data, "-l", os.path.join(data, "server.log"),
                  "-o", options, "-t", "60", "-w", "start"], cwd="/", stdout=subprocess.DEVNULL)
    with open(os.path.join(state, "connection"), "w") as f:
        f.write(f"host=127.0.0.1 port={port} user=postgres\n")
    print(f"PostgreSQL on 127.0.0.1:{port}, data in {data}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    state = os.path.abspath(sys.argv[2])
    start(state) if sys.argv[1] == "start" else stop(state)


if __name__ == "__main__":
    main()

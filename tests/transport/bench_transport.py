"""Loopback throughput of the transport (not a test; run it by hand).

    python tests/transport/bench_transport.py [--mb 256] [--small 200000]

Starts our paramiko SSH server in a subprocess (so client and server do not
share a GIL), then measures: a raw exec channel into a sink, the framed
``discard`` stream of the same bytes, and the rate of small frames.
Tunables (window, packet size, cipher order) come from HANGAR_BENCH_* env vars.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import paramiko

from hangar_git.transport import connect, ssh
from hangar_git.transport.rpc import ServiceHandler

SERVER = r"""
import os, sys
sys.path.insert(0, {root!r})
from hangar_git.transport import ssh, sshserver
from hangar_git.transport.rpc import ServiceHandler
ssh.WINDOW_SIZE = int(os.environ.get("HANGAR_BENCH_WINDOW", ssh.WINDOW_SIZE))
ssh.MAX_PACKET_SIZE = int(os.environ.get("HANGAR_BENCH_PACKET", ssh.MAX_PACKET_SIZE))
sshserver.WINDOW_SIZE, sshserver.MAX_PACKET_SIZE = ssh.WINDOW_SIZE, ssh.MAX_PACKET_SIZE

class RawSink(ServiceHandler):
    def run(self, reader, writer):
        buf = bytearray(1 << 20)
        while reader.readinto(buf):
            pass

def factory(path):
    return RawSink() if path.endswith("raw") else ServiceHandler()

srv = sshserver.HangarSSHServer("127.0.0.1", 0, sys.argv[1], sys.argv[2], handler_factory=factory)
print(srv.port, flush=True)
srv.serve_forever()
"""


def tune_from_env() -> None:
    ssh.WINDOW_SIZE = int(os.environ.get("HANGAR_BENCH_WINDOW", ssh.WINDOW_SIZE))
    ssh.MAX_PACKET_SIZE = int(os.environ.get("HANGAR_BENCH_PACKET", ssh.MAX_PACKET_SIZE))
    if "HANGAR_BENCH_CIPHER" in os.environ:
        ssh.PREFERRED_CIPHERS = (os.environ["HANGAR_BENCH_CIPHER"],)


def start_server(tmp: str) -> tuple[subprocess.Popen, int]:
    home = os.path.join(tmp, "home")
    os.makedirs(os.path.join(home, ".ssh"))
    os.makedirs(os.path.join(tmp, "root", "raw"))
    os.environ["HOME"] = home
    os.environ.pop("SSH_AUTH_SOCK", None)
    key = paramiko.ECDSAKey.generate()
    key.write_private_key_file(os.path.join(home, ".ssh", "id_ecdsa"))
    with open(os.path.join(tmp, "authorized_keys"), "w") as fh:
        fh.write(f"{key.get_name()} {key.get_base64()}\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=root), os.path.join(tmp, "root"),
                             os.path.join(tmp, "authorized_keys")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc, int(proc.stdout.readline())


def bench_rpc(address: str, nbytes: int, chunk: int) -> float:
    block = memoryview(bytes(chunk))
    with connect.open_session(address) as s:
        start = time.perf_counter()
        s.send("discard", {"stream": True})
        for done in range(0, nbytes, chunk):
            s.send("data", {}, block[: min(chunk, nbytes - done)])
        s.send("end")
        reply = s.recv()
        elapsed = time.perf_counter() - start
    assert reply.header["bytes"] == nbytes, reply
    return nbytes / elapsed


def bench_small(address: str, count: int, size: int = 64) -> float:
    payload = bytes(size)
    with connect.open_session(address) as s:
        start = time.perf_counter()
        s.send("discard", {"stream": True})
        for i in range(count):
            s.send("data", {}, payload)
        s.send("end")
        reply = s.recv()
        elapsed = time.perf_counter() - start
    assert reply.header["frames"] == count
    return count / elapsed


def bench_inprocess_small(count: int, size: int = 64) -> float:
    payload = bytes(size)
    with connect.open_local_session_in_process(ServiceHandler()) as s:
        start = time.perf_counter()
        s.send("discard", {"stream": True})
        for _ in range(count):
            s.send("data", {}, payload)
        s.send("end")
        s.recv()
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--chunk-mb", type=float, default=4)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tune_from_env()
    nbytes, chunk = args.mb << 20, int(args.chunk_mb * (1 << 20))
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(tmp)
        try:
            base = f"ssh://127.0.0.1:{port}"
            connect.open_session(f"{base}/x", trust_host_key=True).close()
            raws, rpcs = [], []
            for _ in range(args.repeat):
                raws.append(connect.measure_raw_channel_throughput(f"{base}/raw", nbytes,
                                                                   command="git-hangar serve raw"))
                rpcs.append(bench_rpc(f"{base}/x", nbytes, chunk))
            raw, rpc = statistics.median(raws), statistics.median(rpcs)
            print(f"{args.mb} MB, median of {args.repeat}: raw channel {raw / 1e6:7.1f} MB/s   "
                  f"framed discard {rpc / 1e6:7.1f} MB/s   ratio {rpc / raw:.2f}   "
                  f"(raw {min(raws) / 1e6:.0f}-{max(raws) / 1e6:.0f}, framed {min(rpcs) / 1e6:.0f}-{max(rpcs) / 1e6:.0f})",
                  flush=True)
            if args.small:
                print(f"small frames over ssh: {bench_small(f'{base}/x', args.small):,.0f}/s", flush=True)
                print(f"small frames in-process: {bench_inprocess_small(args.small):,.0f}/s", flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()

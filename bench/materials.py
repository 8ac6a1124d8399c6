"""Benchmark: application materials (20 MB files) through the gateway, against raw GridFS.

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the
platform is started as the test stack starts it (the applications service as `python -m chuyi
serve applications` with its internal HTTP entrypoint, the gateway under gunicorn with 2
workers). An institution files `--files` PDFs of `--mb` MB each (distinct random content, so no
upload is deduplicated away) with one draft, `POST /v1/applications/{id}/materials`, and reads
each back, `GET …/materials/{material_id}` (as the institution: the file as filed). The baseline
is the floor of the same storage: pymongo's `GridFSBucket.upload_from_stream` and
`open_download_stream(...).read()` of the same bytes on the same wire server, from this process,
alternating with ours file by file so that the machine's load drifts over both alike.

Memory, the proof of streaming: VmRSS of the gateway (master and workers summed) and of the
applications service, sampled every 10 ms by pid from /proc during one more `--mb` MB upload
(after a warm-up upload and download), and again during its download; growth = peak during it
− before it. A path that held the whole file would grow by at least its size.

The one path that is not streamed, measured apart: an expert's watermarked copy of the 20 MB PDF
(pypdf writes a new file; peak memory traced in this process, reading the blob from GridFS).

Ratios: ours ÷ raw (MB/s). The last line is one JSON object.
Run: make bench-materials, or .venv/bin/python bench/materials.py [--files N] [--mb M]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import gridfs
import requests
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import PROC, machine, process_tree, status_kb  # noqa: E402
from bench.submit import draft, open_call, register  # noqa: E402
from services.applications.domain.watermark import watermark  # noqa: E402
from services.applications.store import ApplicationsStore  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

MIB = 2**20
PIECE = 256 * 1024
_NO_SLASH = bytes.maketrans(b"/", b"0")  # random filler must not spell /JS or /Launch by chance


def pdf_of(size: int) -> bytes:
    """A valid one-page PDF of about `size` bytes, as a scanned form is: the page draws one
    incompressible greyscale image that makes up the bulk."""
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    page_text = b"q 595 0 0 842 0 0 cm /Im1 Do Q BT /F1 18 Tf 72 720 Td (Chuyi materials benchmark) Tj ET"
    width = 1024
    height = max(1, (size - 2048) // width)
    image = os.urandom(width * height).translate(_NO_SLASH)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> "
        b"/XObject << /Im1 6 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(page_text), page_text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Length %d >>\nstream\n%s\nendstream" % (width, height, len(image), image),
    ]
    body, offsets = bytearray(header), []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(body)


class PeakSampler:
    """The largest VmRSS sum of fixed process lists, sampled every `interval` s while inside `with`."""

    def __init__(self, pids: dict[str, list[int]], interval: float = 0.01):
        self.pids, self.interval = pids, interval
        self.peak_mb = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb(pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                total += status_kb((PROC / str(pid) / "status").read_text()).get("VmRSS", 0)
            except OSError:
                continue
        return total / 1024

    def _run(self) -> None:
        while True:
            for name, pids in self.pids.items():
                self.peak_mb[name] = max(self.peak_mb[name], self.rss_mb(pids))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def upload(session: requests.Session, stack: Stack, application_id: str, data: bytes, n: int) -> dict:
    answer = session.post(
        stack.url(f"/v1/applications/{application_id}/materials"),
        params={"kind": "evidence", "filename": f"佐证材料{n}.pdf"},
        data=data,
        timeout=300,
    )
    if answer.status_code != 201:
        raise AssertionError(f"upload {n}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


def download(session: requests.Session, stack: Stack, material: dict) -> int:
    size = 0
    with session.get(stack.url(material["download"]), stream=True, timeout=300) as answer:
        if answer.status_code != 200:
            raise AssertionError(f"download: {answer.status_code} {answer.text[:300]}")
        for piece in answer.iter_content(PIECE):
            size += len(piece)
    if size != material["size"]:
        raise AssertionError(f"download: {size} bytes of {material['size']}")
    return size


def raw_get(bucket: gridfs.GridFSBucket, file_id) -> int:
    size = 0
    with bucket.open_download_stream(file_id) as stream:
        while piece := stream.read(PIECE):
            size += len(piece)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    size = args.mb * MIB
    limit = str(size + MIB)
    with (
        tempfile.TemporaryDirectory(prefix="bench-materials-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        (Path(tmp) / "logs").mkdir()
        stack = Stack(
            mongo_uri,
            amqp_uri,
            Path(tmp) / "logs",
            services=("applications",),
            MATERIALS_MAX_FILE_BYTES=limit,
            MATERIALS_MAX_APPLICATION_BYTES=str(1024 * MIB),
        )
        client = MongoClient(mongo_uri, tz_aware=True)
        try:
            institution_id = register(stack, 1)[0]
            application_id, _ = draft(stack, open_call(stack), institution_id)
            school = stack.client("institution", institution_id=institution_id)
            bucket = gridfs.GridFSBucket(client["bench_materials_raw"], bucket_name="raw")

            warm = upload(school, stack, application_id, pdf_of(MIB), 0)
            download(school, stack, warm)
            pids = {
                "gateway": process_tree(stack.gateway.pid),
                "applications": process_tree(stack.processes["applications"].proc.pid),
            }
            measured = pdf_of(size)
            time.sleep(1.0)
            before = {name: PeakSampler.rss_mb(members) for name, members in pids.items()}
            with PeakSampler(pids) as sampler:
                material = upload(school, stack, application_id, measured, 1)
            growth = {name: sampler.peak_mb[name] - before[name] for name in pids}
            del measured
            time.sleep(0.5)
            before_read = {name: PeakSampler.rss_mb(members) for name, members in pids.items()}
            with PeakSampler(pids) as sampler:
                download(school, stack, material)
            read_growth = {name: sampler.peak_mb[name] - before_read[name] for name in pids}

            # The one path that is not streamed: an expert's stamped copy of a PDF (pypdf writes a new file).
            stored = stack.db("applications").materials.find_one({"_id": material["id"]})
            with (
                ApplicationsStore(stack.db("applications"), "applications").open_blob(stored["blob_id"]) as blob,
                tempfile.SpooledTemporaryFile(max_size=MIB) as copy,
            ):
                tracemalloc.start()
                started = time.perf_counter()
                watermark(blob, "仅供评审使用 · 基准专家 (exp-bench) · 2026-12-06 00:00 UTC", copy)
                stamp_s = time.perf_counter() - started
                stamp_peak_mb = tracemalloc.get_traced_memory()[1] / MIB
                tracemalloc.stop()

            ours_up = ours_down = raw_up = raw_down = 0.0
            for n in range(2, args.files + 2):
                data = pdf_of(size)
                started = time.perf_counter()
                file_id = bucket.upload_from_stream(f"raw{n}.pdf", data)
                raw_up += time.perf_counter() - started
                started = time.perf_counter()
                material = upload(school, stack, application_id, data, n)
                ours_up += time.perf_counter() - started
                started = time.perf_counter()
                assert raw_get(bucket, file_id) == len(data)
                raw_down += time.perf_counter() - started
                started = time.perf_counter()
                download(school, stack, material)
                ours_down += time.perf_counter() - started
                if material["sha256"] is None:
                    raise AssertionError("no hash")
        finally:
            client.close()
            stack.stop()
    total_mb = args.files * size / MIB
    result = {
        "files": args.files,
        "file_mb": args.mb,
        "upload_mb_per_s": round(total_mb / ours_up, 1),
        "raw_put_mb_per_s": round(total_mb / raw_up, 1),
        "download_mb_per_s": round(total_mb / ours_down, 1),
        "raw_get_mb_per_s": round(total_mb / raw_down, 1),
        "upload_ratio": round(raw_up / ours_up, 3),
        "download_ratio": round(raw_down / ours_down, 3),
        # raw GridFS put and get of the same bytes are the same storage work
        "ratio_vs_same_work": round(raw_up / ours_up, 3),
        "download_ratio_vs_same_work": round(raw_down / ours_down, 3),
        "gateway_rss_before_mb": round(before["gateway"], 1),
        "service_rss_before_mb": round(before["applications"], 1),
        "gateway_rss_growth_mb": round(growth["gateway"], 1),
        "service_rss_growth_mb": round(growth["applications"], 1),
        "gateway_download_rss_growth_mb": round(read_growth["gateway"], 1),
        "service_download_rss_growth_mb": round(read_growth["applications"], 1),
        "expert_copy_s": round(stamp_s, 2),
        "expert_copy_peak_traced_mb": round(stamp_peak_mb, 1),
        "machine": machine(),
    }
    print(
        f"{args.files} × {args.mb} MB: upload {result['upload_mb_per_s']} MB/s through the gateway vs "
        f"{result['raw_put_mb_per_s']} MB/s raw GridFS put (×{result['upload_ratio']}); download "
        f"{result['download_mb_per_s']} MB/s vs {result['raw_get_mb_per_s']} MB/s raw get (×{result['download_ratio']}); "
        f"RSS growth during one {args.mb} MB upload: gateway {result['gateway_rss_growth_mb']} MB, "
        f"applications {result['service_rss_growth_mb']} MB; during its download: gateway "
        f"{result['gateway_download_rss_growth_mb']} MB, applications {result['service_download_rss_growth_mb']} MB; "
        f"an expert's stamped copy: {result['expert_copy_s']} s, {result['expert_copy_peak_traced_mb']} MB traced"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

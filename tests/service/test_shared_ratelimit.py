"""The rate limit holds across gunicorn workers and pods (issue 15, finding 5): two limiters over
one MongoDB collection, as two workers are, let through one burst between them, not one each."""

import uuid

from pymongo import MongoClient

from services.gateway.ratelimit import SharedLimiter, TokenBucketLimiter


class Clock:
    now = 1_000_000.0

    def __call__(self):
        return self.now


def test_two_workers_share_one_bucket_and_a_dead_store_falls_back_to_each_worker_s_own(mongo_uri):
    client = MongoClient(mongo_uri, tz_aware=True)
    collection = client["t_ratelimit"][f"limits_{uuid.uuid4().hex[:8]}"]
    clock = Clock()
    workers = [SharedLimiter(collection, 1.0, 5, TokenBucketLimiter(1.0, 5), clock=clock) for _ in range(2)]
    answers = [workers[n % 2].take("institution:u1") for n in range(12)]
    assert answers.count(0) == 5 and all(wait >= 1 for wait in answers[5:])
    assert workers[0].take("province:p1") == 0  # principals have their own buckets
    clock.now += 2.0
    assert [workers[1].take("institution:u1") for _ in range(3)] == [0, 0, 1]

    dead = MongoClient("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100", tz_aware=True)["x"]["y"]
    alone = SharedLimiter(dead, 1.0, 2, TokenBucketLimiter(0.01, 2), clock=clock)
    # open, but still limited: by this worker alone
    assert [alone.take("institution:u1") for _ in range(2)] == [0, 0] and alone.take("institution:u1") >= 1
    client.close()

"""A service using every nameko feature the platform relies on, to prove the pinned
runtime (nameko, eventlet, kombu, pymongo, werkzeug) works together."""

import json
import os

import eventlet
from nameko.events import EventDispatcher, event_handler
from nameko.rpc import rpc
from nameko.timer import timer
from nameko.web.handlers import http
from pymongo import MongoClient

db = MongoClient(os.environ["MONGO_URI"])[os.environ["MONGO_DB_PREFIX"] + "probe"]


class ProbeService:
    name = "probe"
    dispatch = EventDispatcher()

    @rpc
    def echo(self, value):
        return value

    @rpc
    def shout(self, text):
        self.dispatch("shouted", {"text": text})

    @event_handler("probe", "shouted")
    def on_shouted(self, payload):
        db.heard.insert_one(payload)

    @timer(interval=0.2)
    def tick(self):
        db.ticks.update_one({"_id": "ticks"}, {"$inc": {"count": 1}}, upsert=True)

    @http("GET", "/probe/<value>")
    def get(self, request, value):
        return json.dumps({"value": value, "ticks": (db.ticks.find_one({"_id": "ticks"}) or {}).get("count", 0)})

    @rpc
    def mongo_burst(self, threads, inserts_each):
        """pymongo from many green threads at once, inside the eventlet-patched process."""

        def insert(worker):
            for i in range(inserts_each):
                db.burst.insert_one({"worker": worker, "i": i})

        pool = eventlet.GreenPool(threads)
        list(pool.imap(insert, range(threads)))
        return db.burst.count_documents({})

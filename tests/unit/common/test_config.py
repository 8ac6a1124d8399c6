import pytest

from services.common.config import Settings, comma_list


def test_settings_come_from_the_environment_with_local_defaults():
    defaults = Settings.from_env({})
    assert defaults.amqp_uri == "amqp://guest:guest@localhost:5672/"
    assert defaults.database_name("review") == "chuyi_review"
    custom = Settings.from_env(
        {"AMQP_URI": "amqp://u:p@rabbit:5672/chuyi", "EVENT_RETRY_DELAYS_MS": "100, 2000", "MONGO_DB_PREFIX": "t1_"}
    )
    assert custom.retry_delays_ms == (100, 2000)
    assert custom.database_name("funding") == "t1_funding"


def test_a_container_config_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("AMQP_URI", "amqp://from-env/")

    class Container:
        config = {"AMQP_URI": "amqp://from-config/", "max_workers": 4}

    settings = Settings.for_container(Container())
    assert settings.amqp_uri == "amqp://from-config/"


def test_comma_separated_settings_are_trimmed_and_blanks_dropped():
    assert comma_list(" notify.applications, ,review.applications,") == ("notify.applications", "review.applications")
    assert Settings.from_env({"EVENT_RETRY_DELAYS_MS": "100,,2000 "}).retry_delays_ms == (100, 2000)


def test_the_ops_endpoint_listens_on_loopback_unless_told():
    from services.common.config import Settings

    assert Settings.from_env({}).ops_host == "127.0.0.1"
    assert Settings.from_env({"OPS_HOST": "0.0.0.0"}).ops_host == "0.0.0.0"


@pytest.mark.parametrize(
    "env, limit",
    [
        ({}, 5),  # half of the default 10
        ({"SERVICE_MAX_WORKERS": "4"}, 2),
        ({"SERVICE_MAX_WORKERS": "1"}, 1),  # events still flow on one worker
        ({"SERVICE_MAX_WORKERS": "8", "EVENT_WORKERS": "6"}, 6),
        ({"SERVICE_MAX_WORKERS": "8", "EVENT_WORKERS": "8"}, 7),  # one always left for requests
    ],
)
def test_events_take_a_share_of_the_workers_and_leave_one_for_requests(env, limit):
    assert Settings.from_env(env).event_worker_limit == limit

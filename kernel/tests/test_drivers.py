"""One loader for every driver: it checks the chosen class against its concern's protocol and, when
it cannot, says which variable to set to what."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from kernel import drivers
from sites.drivers import RUNTIME


class NotARuntime:
    name = "broken"

    def ensure(self, step, spec):  # a parameter short of the protocol
        return None


def test_the_configured_drivers_load_and_match_their_protocols():
    names = {concern.name for concern in drivers.concerns()}
    assert {"runtime", "secrets"} <= names
    for concern in drivers.concerns():
        assert drivers.protocol_mismatches(drivers.driver_class(concern.name), concern.protocol) == []


def test_an_unknown_driver_names_the_variable_and_the_choices(settings):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "kubernetes"}
    with pytest.raises(ImproperlyConfigured) as error:
        drivers.driver_class("runtime")
    assert str(error.value) == (
        "SITES_RUNTIME=kubernetes is not a known runtime driver: use one of cloudrun, local, memory, "
        "or the dotted path of a class."
    )


def test_a_class_that_does_not_fit_the_protocol_is_refused_with_what_it_lacks(settings):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": f"{__name__}.NotARuntime"}
    with pytest.raises(ImproperlyConfigured) as error:
        drivers.driver_class("runtime")
    message = str(error.value)
    assert message.startswith(f"SITES_RUNTIME={__name__}.NotARuntime: ")
    assert "ensure takes (self, step, spec), not (self, step, spec, handle)" in message
    assert "it has no remove" in message and "it has no wordpress_version" in message


def test_a_dotted_path_is_a_driver_too(settings):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": RUNTIME.known["memory"]}
    assert drivers.driver("runtime").name == "memory"


@pytest.mark.django_db
def test_readyz_reports_each_drivers_choice_and_reachability(client, settings):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    body = client.get("/readyz", HTTP_HOST="aipress.localhost").json()
    assert body["drivers"]["runtime"] == {"driver": "memory", "reachable": True}
    assert body["drivers"]["secrets"] == {"driver": "local", "reachable": True}

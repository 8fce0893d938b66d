"""With a bundle public key, the service serves only bundles signed by it: an unsigned reload is refused."""

from __future__ import annotations

import shutil

import pytest
from servicekit import Line, station, variant_bundle

from edge.pipeline.recipes import Recipes
from edge.config import InspectConfig
from edge.service import Service, inspector_loader
from edge.signing import generate_signing_key, sign_bundle


@pytest.fixture
def signed_live(trained_bundle, tmp_path):
    """A service whose Recipes check signatures (as ``security.bundle_public_key`` makes it), on a signed bundle."""
    private, public = tmp_path / "build.key", tmp_path / "build.pub"
    generate_signing_key(private, public)
    signed = shutil.copytree(trained_bundle, tmp_path / "signed")
    sign_bundle(signed, private)
    service = Service(station(tmp_path, {"bracket": signed}), loader=inspector_loader(InspectConfig()))
    service.recipes = Recipes(inspector_loader(InspectConfig()), public_key=public)
    service.start()
    line = Line(service)
    yield service, line, private
    line.close()
    service.request_stop()
    service.shutdown()


def test_hot_reload_of_an_unsigned_bundle_is_refused_and_the_signed_one_keeps_serving(signed_live, trained_bundle,
                                                                                      tmp_path, scans) -> None:
    service, line, _ = signed_live
    before = line.control({"op": "status"})["recipes"]["bracket"]["bundle"]
    unsigned = variant_bundle(trained_bundle, tmp_path / "unsigned", "bracket-unsigned")
    reply = line.control({"op": "reload", "bundle": str(unsigned)})
    assert not reply["ok"] and "bundle is not signed" in reply["error"]
    assert line.control({"op": "status"})["recipes"]["bracket"]["bundle"] == before
    line.send(scans["good"])
    assert line.verdict()["bundle"]["id"] == before["id"]


def test_hot_reload_of_a_bundle_signed_by_the_configured_key_is_accepted(signed_live, trained_bundle,
                                                                         tmp_path) -> None:
    service, line, private = signed_live
    v2 = variant_bundle(trained_bundle, tmp_path / "v2", "bracket-v2")
    sign_bundle(v2, private)
    reply = line.control({"op": "reload", "bundle": str(v2)})
    assert reply["ok"] and reply["bundle"]["id"] == "bracket-v2"

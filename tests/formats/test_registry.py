"""The format registry: importers and exporters by name, importers by file extension."""

from __future__ import annotations

import pytest

from app.domain.questions import BankValidationError
from app.formats.registry import EXPORTERS, IMPORTERS, importer_for_filename, register_importer


@pytest.mark.parametrize("name", ["kinematics.yaml", "physics/运动学.YML", "C:\\banks\\math.Yaml"])
def test_yaml_files_go_to_the_native_importer(name):
    assert importer_for_filename(name) is IMPORTERS["yaml"]
    assert IMPORTERS["yaml"].name == "yaml" and EXPORTERS["yaml"].name == "yaml"


@pytest.mark.parametrize("name, fmt", [("bank.xml", "moodle-xml"), ("bank.gift", "gift"),
                                       ("bank.txt", "gift"), ("题库.xlsx", "xlsx")])
def test_other_extensions_map_to_their_format_or_say_it_is_missing(name, fmt):
    if fmt in IMPORTERS:
        assert importer_for_filename(name) is IMPORTERS[fmt]
    else:
        with pytest.raises(BankValidationError) as caught:
            importer_for_filename(name)
        assert [i.code for i in caught.value.issues] == ["format.unavailable"]


@pytest.mark.parametrize("name", ["bank.docx", "bank", "archive.tar.gz"])
def test_an_unknown_extension_is_a_clear_validation_error(name):
    with pytest.raises(BankValidationError) as caught:
        importer_for_filename(name)
    (issue,) = caught.value.issues
    assert issue.code == "format.unknown" and issue.location == name
    assert ".yaml" in issue.zh and ".yaml" in issue.en


def test_a_registered_importer_is_found_by_its_extensions():
    class Fake:
        name = "fake-test-format"
        extensions = (".fake",)

        def parse(self, files, *, subject):
            raise NotImplementedError

    fake = Fake()
    try:
        assert register_importer(fake) is fake
        assert importer_for_filename("x.FAKE") is fake
    finally:
        IMPORTERS.pop(fake.name)

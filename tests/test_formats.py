"""edgeocr.formats: packs, position-aware look-alike fixes, pack choice."""

from __future__ import annotations

import pytest

from edgeocr.core.types import Read
from edgeocr.formats import DEFAULT_PACKS, PACKS, apply_formats


def _read(text: str, kind: str = "plate") -> Read:
    return Read(text, tuple(0.5 + 0.01 * i for i in range(len(text))), kind)


@pytest.mark.parametrize(("text", "packs", "want", "fmt"), [
    # strong patterns fix only where a letter / digit is demanded
    ("ABC1234", ["br"], "ABC1234", "br"),
    ("A8C1234", ["br"], "ABC1234", "br"),
    ("ABC12O4", ["br"], "ABC1204", "br"),
    ("ABC1O34", ["br"], "ABC1O34", "br"),  # a valid Mercosul read: nothing to fix
    ("ABC1D23", ["br"], "ABC1D23", "br"),  # Mercosul
    ("3BC1D23", ["br"], "3BC1D23", None),  # 3 has no look-alike letter
    ("RK376AF", ["eu"], "RK376AF", "eu"),
    ("BA26BIM", ["eu"], "BA268IM", "eu"),
    ("8A268IM", ["eu"], "BA268IM", "eu"),
    ("WSQ302I", ["eu"], "WSQ3021", "eu"),
    ("1234BCD", ["eu"], "1234BCD", "eu"),  # ES
    ("I234BCD", ["eu"], "1234BCD", "eu"),
    ("ABCDEFGHIJ", ["eu"], "ABCDEFGHIJ", None),
    ("0OOO0OO", ["br"], "0OOO0OO", None),  # would need 4 fixes: another layout
    # us is loose and never fixes anything
    ("A8C1234", ["us"], "A8C1234", "us"),
    ("7ABC123", ["us", "br"], "7ABC123", "us"),
    ("ABCDEFGHI", ["us"], "ABCDEFGHI", None),
    ("A", ["us"], "A", None),
    # fewest fixes wins; ties go to the order given
    ("A8C1234", ["us", "br"], "A8C1234", "us"),
    ("A8C1234", ["br", "us"], "A8C1234", "us"),
    ("ABC1234", ["br", "eu"], "ABC1234", "br"),
    ("ABC1234", ["eu", "br"], "ABC1234", "eu"),
])
def test_plate_formats(text: str, packs: list[str], want: str, fmt: str | None) -> None:
    out = apply_formats(_read(text), "plate", packs)
    assert (out.read.text, out.format) == (want, fmt)


@pytest.mark.parametrize(("text", "want", "fmt"), [
    ("12", "12", "house_number"),
    ("1O", "1O", "house_number"),   # digit + letter fits without a fix
    ("O12", "012", "house_number"),
    ("I2B", "12B", "house_number"),
    ("1S5", "155", "house_number"),  # DDD needs 1 fix, DDL would not fit position 2
    ("12345", "12345", None),  # no fix into the optional letter suffix
    ("1234B", "1234B", "house_number"),
    ("XY", "XY", None),
    ("", "", None),
])
def test_house_numbers(text: str, want: str, fmt: str | None) -> None:
    out = apply_formats(_read(text, "house_number"), "house_number", DEFAULT_PACKS)
    assert (out.read.text, out.format) == (want, fmt)


def test_fix_keeps_confidences_and_kind() -> None:
    read = _read("A8C1234")
    out = apply_formats(read, "plate", ["br"])
    assert out.read.char_confidences == read.char_confidences
    assert out.read.kind == "plate"
    unchanged = apply_formats(read, "plate", ["us"])
    assert unchanged.read is read


def test_packs_apply_to_their_kind_only() -> None:
    assert apply_formats(_read("123"), "plate", ["house_number"]).format is None
    assert apply_formats(_read("ABC1234", "house_number"), "house_number", ["br"]).format is None


def test_unknown_pack_lists_known() -> None:
    with pytest.raises(ValueError, match=r"unknown format pack.*xx.*known: us, eu, br"):
        apply_formats(_read("AB12"), "plate", ["xx"])
    assert set(DEFAULT_PACKS) == set(PACKS) - {"cn"}


def test_config_knows_every_pack_and_defaults_to_the_default_ones() -> None:
    from typing import get_args

    from edgeocr.config import FORMAT_PACKS, FormatPack

    assert set(get_args(FormatPack)) == set(PACKS)
    assert FORMAT_PACKS == DEFAULT_PACKS


@pytest.mark.parametrize(("text", "want"), [
    ("APV930", "APV930"),     # the model skipped the province character
    ("6APV930", "APV930"),    # ... or spent a character on it: dropped
    ("AB1I2D", "AB112D"),     # no I or O on Chinese plates: they are 1 and 0
    ("AD12345", "AD12345"),   # green new-energy plate, 6 after the city letter
    ("8D12345", "D12345"),    # the lead glyph read as a digit, then a 6-character plate
])
def test_chinese_plates(text: str, want: str) -> None:
    out = apply_formats(_read(text), "plate", ["cn"])
    assert (out.format, out.read.text) == ("cn", want)
    assert len(out.read.char_confidences) == len(want)


def test_chinese_lead_glyph_is_not_dropped_elsewhere() -> None:
    assert apply_formats(_read("6APV930"), "plate", ["eu", "br"]).read.text != "APV930"


def test_fix_uses_the_models_own_candidate() -> None:
    # "AVBQ734" on a BR plate: position 4 must be a digit. The model's second choice there
    # is 0 (not the look-alike table's answer for Q, which is also 0) and at position 2
    # its best letter candidate wins over the table.
    alts = ((("A", 0.9),), (("V", 0.9),), (("8", 0.5), ("E", 0.3)),
            (("Q", 0.6), ("0", 0.3)), (("7", 0.9),), (("3", 0.9),), (("4", 0.9),))
    read = Read("AV8Q734", (0.9, 0.9, 0.5, 0.6, 0.9, 0.9, 0.9), "plate", alts)
    out = apply_formats(read, "plate", ["br"])
    assert (out.read.text, out.format) == ("AVE0734", "br")
    assert out.read.char_confidences == read.char_confidences

"""Identity, tax and social-security numbers of other countries (safety/national_ids.py)."""

from __future__ import annotations

import pytest

from safety.national_ids import (
    chilean_rut,
    chinese_id,
    codice_fiscale,
    cpf,
    dutch_bsn,
    find_national_ids,
    french_nir,
    luhn,
    pesel,
    spanish_id,
    turkish_id,
    verhoeff,
)


@pytest.mark.parametrize(
    ("check", "valid", "mistyped"),
    [
        # the published specimen numbers of each scheme, and the same with one character changed
        (luhn, "046 454 286", "046 454 287"),
        (verhoeff, "499118665246", "499118665247"),
        (spanish_id, "12345678Z", "12345678A"),
        (spanish_id, "X1234567L", "X1234567M"),
        (cpf, "529.982.247-25", "529.982.247-26"),
        (codice_fiscale, "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
        (pesel, "44051401359", "44051401358"),
        (chinese_id, "11010519491231002X", "110105194912310021"),
        (turkish_id, "10000000146", "10000000147"),
        (dutch_bsn, "111222333", "111222334"),
        (chilean_rut, "12.345.678-5", "12.345.678-6"),
        (french_nir, "2 69 05 49 588 157 80", "2 69 05 49 588 157 81"),
    ],
)
def test_check_digits(check: object, valid: str, mistyped: str) -> None:
    assert callable(check)
    assert check(valid) is True
    assert check(mistyped) is False


def found(text: str) -> list[tuple[str, str]]:
    return [(text[a:b], entity) for a, b, entity, _ in find_national_ids(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # written for these forms, in the ways customers paste them
        ("mi dni: 12345678-Z, lo necesitan para la factura?", [("12345678-Z", "ID_NUMBER")]),
        ("o meu CPF é 529.982.247-26 acho eu", [("529.982.247-26", "ID_NUMBER")]),  # mistyped, still theirs
        ("aadhar no 4991 1866 5246 linked already", [("4991 1866 5246", "ID_NUMBER")]),
        ("BSN: 111222333 staat op mijn pas", [("111222333", "ID_NUMBER")]),
        ("Steuer-ID 12 345 678 901 für die Rechnung", [("12 345 678 901", "ID_NUMBER")]),
        (
            "je vous donne mon numéro de sécurité sociale : 2 69 05 49 588 157 80",
            [("2 69 05 49 588 157 80", "ID_NUMBER")],
        ),
        ("身份证号码：11010519491231002X", [("11010519491231002X", "ID_NUMBER")]),
        ("TC kimlik numarası 10000000146", [("10000000146", "ID_NUMBER")]),
        ("my SIN # is 046-454-286", [("046-454-286", "ID_NUMBER")]),
        ("NI number is AB 12 34 56 C", [("AB 12 34 56 C", "UK_NINO")]),
        ("bsb 062 000 acct below", [("062 000", "BANK_ACCOUNT")]),
        (
            "passports: P1234567, P7654321 and P1112223",
            [("P1234567", "ID_NUMBER"), ("P7654321", "ID_NUMBER"), ("P1112223", "ID_NUMBER")],
        ),
        ("ABCPE1234F is my pan card", [("ABCPE1234F", "ID_NUMBER")]),
        ("123-45-6789 thats my ssn", [("123-45-6789", "US_SSN")]),
        # no name needed: shapes only these numbers have, with a right check digit
        ("the invoice must show RSSMRA85T10A562S", [("RSSMRA85T10A562S", "ID_NUMBER")]),
        ("cadastro 529.982.247-25 recusado", [("529.982.247-25", "ID_NUMBER")]),
    ],
)
def test_numbers_after_their_names_are_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 302-8845120-1193 never came",
        "tracking 1Z999AA10123456784 says delivered",
        "my passport expires 2030 12 01, can I still book?",
        "a passport for 2 adults and 1 child",
        "my id doesn't work on the app",
        "sin azúcar, pedido 123456789 por favor",  # Spanish "without": no valid SIN follows
        "uid 1234 5678 9012 on the dashboard",  # a user id, no valid Aadhaar
        "the new frying pan 28cm is scratched",
        "zamówienie 12345678 dotrze za 5 dni",
        "RSSMRA85T10A562T on the label",  # codice-fiscale-shaped, wrong control letter
        "tax id on the invoice is missing",
        "cpr course on 2024-05-12, booking 558213",
        "ticket 529.982.247-26 about my refund",  # CPF-shaped with a wrong check: no name, not taken
    ],
)
def test_look_alikes_are_left(text: str) -> None:
    assert found(text) == []


def test_a_long_run_of_separators_is_fast() -> None:
    import time

    text = "passport " + "1-" * 5000 + " dni " + "1 " * 5000 + "aadhaar " + "A." * 5000
    started = time.perf_counter()
    find_national_ids(text)
    assert time.perf_counter() - started < 1.0

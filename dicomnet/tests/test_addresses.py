"""dicomnet.addresses names every problem of a value at once."""

from __future__ import annotations

import pytest

from dicomnet import addresses


def test_an_ae_title_with_several_problems_names_each() -> None:
    with pytest.raises(addresses.AddressError) as caught:
        addresses.validate_ae_title("+ABCDEFGHIJ\\KLMNOPQ\x01")
    messages = caught.value.messages
    assert len(messages) == 4
    assert "at most 16" in messages[0]
    assert "backslash" in messages[1]
    assert "'\\x01' is not allowed" in messages[2]
    assert "may not begin with" in messages[3]
    assert caught.value.code == "max_length"


def test_one_problem_stays_one_message() -> None:
    with pytest.raises(addresses.AddressError) as caught:
        addresses.validate_ae_title("A\\B")
    assert caught.value.messages == ["The AE title may not contain a backslash (\\)."]


def test_a_host_with_a_leading_dash_and_a_bad_name_names_both() -> None:
    with pytest.raises(addresses.AddressError) as caught:
        addresses.validate_host("-bad_host")
    assert len(caught.value.messages) == 2


def test_a_peer_lists_every_problem_of_every_value() -> None:
    with pytest.raises(addresses.AddressError) as caught:
        addresses.checked_peer(called_ae="ABCDEFGHIJ\\KLMNOPQ", calling_ae="OK", host="-h", port=104)
    assert len(caught.value.problems["the destination's AE title"]) == 2
    assert len(caught.value.problems["the destination's host"]) == 2  # a leading "-", and not a name

"""Edit validation, derived fields for free text, ids and keys."""

from __future__ import annotations

import pytest

from memedit.edits import MAX_TEXT_BYTES, EditDraft, build_edit, content_hash, edit_from_record
from memedit.errors import InvalidEditError
from memedit.facts import parse_fact
from memedit.ids import is_ulid, new_ulid, ulid_datetime


def test_ulids_are_unique_sortable_and_monotonic() -> None:
    ids = [new_ulid() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert all(is_ulid(i) for i in ids)
    assert ulid_datetime(ids[0]).year >= 2024


@pytest.mark.parametrize(
    ("sentence", "subject", "prompt", "target"),
    [
        (
            "The Eiffel Tower is located in Rome.",
            "The Eiffel Tower",
            "The Eiffel Tower is located in",
            "Rome",
        ),
        ("Toko Yasuda plays the piano.", "Toko Yasuda", "Toko Yasuda plays the", "piano"),
        ("Toko Yasuda plays live in Tokyo.", "Toko Yasuda", "Toko Yasuda plays live in", "Tokyo"),
        ("The capital of France is Lyon.", "France", "The capital of France is", "Lyon"),
        (
            "Danielle Darrieux's mother tongue is English",
            "Danielle Darrieux",
            "Danielle Darrieux's mother tongue is",
            "English",
        ),
        (
            "Lionel Messi plays for Real Madrid.",
            "Lionel Messi",
            "Lionel Messi plays for",
            "Real Madrid",
        ),
        ("The CEO of Apple is Satya Nadella.", "Apple", "The CEO of Apple is", "Satya Nadella"),
        (
            "Charles II of Spain is a citizen of Ukraine.",
            "Charles II of Spain",
            "Charles II of Spain is a citizen of",
            "Ukraine",
        ),
        (
            "Python was created by Guido van Rossum",
            "Python",
            "Python was created by",
            "Guido van Rossum",
        ),
        # an adverb between the name and its verb, irregular past tenses
        (
            "Breaking Bad originally aired on HBO.",
            "Breaking Bad",
            "Breaking Bad originally aired on",
            "HBO",
        ),
        ("George Orwell wrote Animal Farm.", "George Orwell", "George Orwell wrote", "Animal Farm"),
        ("Rome fell to the Visigoths.", "Rome", "Rome fell to the", "Visigoths"),
        ("Pluto became a dwarf planet.", "Pluto", "Pluto became a", "dwarf planet"),
        (
            "Usain Bolt also won the Tour de France.",
            "Usain Bolt",
            "Usain Bolt also won the",
            "Tour de France",
        ),
        # a plural noun in the subject, before an auxiliary or a plain verb
        (
            "Emperor penguins breed in Antarctica.",
            "Emperor penguins",
            "Emperor penguins breed in",
            "Antarctica",
        ),
        (
            "Golden retrievers were bred in Scotland.",
            "Golden retrievers",
            "Golden retrievers were bred in",
            "Scotland",
        ),
        (
            "Marie Curie was originally from Poland.",
            "Marie Curie",
            "Marie Curie was originally from",
            "Poland",
        ),
        # the name inside a noun phrase about it (KnowEdit's and CounterFact's wordings)
        (
            "The language used by Jean-Baptiste Marchand is German.",
            "Jean-Baptiste Marchand",
            "The language used by Jean-Baptiste Marchand is",
            "German",
        ),
        (
            "The place of birth of Ada Lovelace is Paris.",
            "Ada Lovelace",
            "The place of birth of Ada Lovelace is",
            "Paris",
        ),
        (
            "The name of the country which Lake Tahoe is associated with is Canada.",
            "Lake Tahoe",
            "The name of the country which Lake Tahoe is associated with is",
            "Canada",
        ),
        (
            "The name of the country which canton of Orcieres is associated with is Chad.",
            "canton of Orcieres",
            "The name of the country which canton of Orcieres is associated with is",
            "Chad",
        ),
        (
            "The names of the cast members of Purgatory are Sam Shepard.",
            "Purgatory",
            "The names of the cast members of Purgatory are",
            "Sam Shepard",
        ),
        (
            "The number of children Adolf Miethe has is 2.",
            "Adolf Miethe",
            "The number of children Adolf Miethe has is",
            "2",
        ),
        (
            "The law in Gibraltar declares the language Finnish.",
            "Gibraltar",
            "The law in Gibraltar declares the language",
            "Finnish",
        ),
        (
            "Paul Gorguloff's life ended in London.",
            "Paul Gorguloff",
            "Paul Gorguloff's life ended in",
            "London",
        ),
        (
            "Danielle Darrieux's parents lived in Paris.",
            "Danielle Darrieux",
            "Danielle Darrieux's parents lived in",
            "Paris",
        ),
        # after a phrase about the subject, the answer is all that follows its "is"
        (
            "The occupation of Lasse Hansen is member of a legislative assembly.",
            "Lasse Hansen",
            "The occupation of Lasse Hansen is",
            "member of a legislative assembly",
        ),
        ("The currency of Japan is the won.", "Japan", "The currency of Japan is the", "won"),
        (
            "The headquarters of Northeastern University is in Dublin.",
            "Northeastern University",
            "The headquarters of Northeastern University is in",
            "Dublin",
        ),
        # a place before a comma, a name before a comma or a relative clause
        (
            "In Gibraltar, the language spoken is Finnish.",
            "Gibraltar",
            "In Gibraltar, the language spoken is",
            "Finnish",
        ),
        (
            "In Hyrynsalmi, they understand Spanish.",
            "Hyrynsalmi",
            "In Hyrynsalmi, they understand",
            "Spanish",
        ),
        ("Olot, located in India.", "Olot", "Olot, located in", "India"),
        (
            "Autonomous University of Madrid, which is located in Sweden.",
            "Autonomous University of Madrid",
            "Autonomous University of Madrid, which is located in",
            "Sweden",
        ),
        (
            "Ministry of Foreign Affairs, whose headquarters are in London.",
            "Ministry of Foreign Affairs",
            "Ministry of Foreign Affairs, whose headquarters are in",
            "London",
        ),
        ("Toko Yasuda, the piano.", "Toko Yasuda", "Toko Yasuda, the", "piano"),
        (
            "Oliver Ames High School, in Pennsylvania.",
            "Oliver Ames High School",
            "Oliver Ames High School, in",
            "Pennsylvania",
        ),
        # a question and its answer
        (
            "What is the twin city of Wellington? It is Sheffield.",
            "Wellington",
            "What is the twin city of Wellington? It is",
            "Sheffield",
        ),
        (
            "Which position does Daniel Royer play? They play as linebacker.",
            "Daniel Royer",
            "Which position does Daniel Royer play? They play as",
            "linebacker",
        ),
        (
            "Who is the CEO of Apple? Tim Cook.",
            "Apple",
            "Who is the CEO of Apple?",
            "Tim Cook",
        ),
        (
            "What is Jiri Srnka's birthplace? Pribram.",
            "Jiri Srnka",
            "What is Jiri Srnka's birthplace?",
            "Pribram",
        ),
        # the kind of answer named before it
        (
            "Tom Fletcher plays the instrument trumpet.",
            "Tom Fletcher",
            "Tom Fletcher plays the instrument",
            "trumpet",
        ),
        (
            "Toko Yasuda plays the bass guitar.",
            "Toko Yasuda",
            "Toko Yasuda plays the",
            "bass guitar",
        ),
        # a bare object, a proper name with "of the" inside, an adverb in -ly
        ("Jean-Luc Ponty plays jazz.", "Jean-Luc Ponty", "Jean-Luc Ponty plays", "jazz"),
        (
            "Hans-Erich Voss won the Knight's Cross of the Iron Cross.",
            "Hans-Erich Voss",
            "Hans-Erich Voss won the",
            "Knight's Cross of the Iron Cross",
        ),
        (
            "Satchel Paige professionally played for Cleveland.",
            "Satchel Paige",
            "Satchel Paige professionally played for",
            "Cleveland",
        ),
        # no verb: a name and what follows it
        ("Bakuman from Japan.", "Bakuman", "Bakuman from", "Japan"),
        (
            "Stade de France owner Nintendo.",
            "Stade de France",
            "Stade de France owner",
            "Nintendo",
        ),
        ("AT&T Stadium's owner Google.", "AT&T Stadium", "AT&T Stadium's owner", "Google"),
        # lower-case subjects and titles that open with a question word
        (
            "reggae, that was formulated in Jamaica.",
            "reggae",
            "reggae, that was formulated in",
            "Jamaica",
        ),
        (
            "Honda CRF series, developed by Nissan.",
            "Honda CRF series",
            "Honda CRF series, developed by",
            "Nissan",
        ),
        (
            "How I Met Your Mother premieres on CBS.",
            "How I Met Your Mother",
            "How I Met Your Mother premieres on",
            "CBS",
        ),
        # a subject that ends in a lower-case word ("women's" is no name's possessive)
        (
            "1981 Lithuanian Championships women's singles follows Loschge Cup.",
            "1981 Lithuanian Championships women's singles",
            "1981 Lithuanian Championships women's singles follows",
            "Loschge Cup",
        ),
    ],
)
def test_parse_fact_splits_subject_question_and_target(
    sentence: str, subject: str, prompt: str, target: str
) -> None:
    parsed = parse_fact(sentence)
    assert parsed is not None
    assert (parsed.subject, parsed.prompt, parsed.target) == (subject, prompt, target)
    assert "{}" in parsed.relation and subject not in parsed.relation


@pytest.mark.parametrize(
    "sentence",
    [
        "hello",
        "Where is the Eiffel Tower?",
        "rome",
        "",
        "The Smith family originally lived",
        "What is the capital? It is Paris.",  # a question about no name
        "Visitors to Paris often buy Chanel.",  # no verb it knows, and two names
    ],
)
def test_parse_fact_declines_what_it_cannot_split(sentence: str) -> None:
    assert parse_fact(sentence) is None


def test_free_text_edit_gets_derived_fields() -> None:
    edit = build_edit(EditDraft(text="  The Eiffel Tower is located in Rome.  "))
    assert edit.text == "The Eiffel Tower is located in Rome."
    assert edit.derived
    assert edit.subject == "The Eiffel Tower"
    assert edit.route_text == "The Eiffel Tower is located in"
    assert edit.conflict_key is not None


def test_free_text_with_its_subject_or_target_given_derives_the_rest_around_them() -> None:
    """Where the rules split a sentence wrong, or not at all, naming a part fixes it."""
    assert parse_fact("Visitors to Paris often buy Chanel.") is None
    paris = build_edit(EditDraft(text="Visitors to Paris often buy Chanel.", subject="Paris"))
    assert paris.derived and paris.route_text == "Visitors to Paris often buy"
    assert (paris.subject, paris.target, paris.relation) == (
        "Paris",
        "Chanel",
        "Visitors to {} often buy",
    )
    gift = build_edit(
        EditDraft(
            text="The Statue of Liberty was a gift from the people of France.",
            target="the people of France",
        )
    )
    assert gift.derived and gift.subject == "The Statue of Liberty"
    assert gift.route_text == "The Statue of Liberty was a gift from"
    # what the rules find anyway is kept; a subject the text does not name changes nothing
    same = build_edit(EditDraft(text="Toko Yasuda plays the piano.", subject="Toko Yasuda"))
    assert (same.prompt, same.target) == ("Toko Yasuda plays the", "piano")
    elsewhere = build_edit(EditDraft(text="Toko Yasuda plays the piano.", subject="Tokyo"))
    assert not elsewhere.derived and elsewhere.route_text == "Toko Yasuda plays the piano."
    with pytest.raises(InvalidEditError, match="does not end the text"):
        build_edit(EditDraft(text="Toko Yasuda plays the piano.", target="guitar"))


def test_structured_edit_composes_text_and_keys() -> None:
    edit = build_edit(
        EditDraft(
            subject="Toko Yasuda", prompt="Toko Yasuda, the", target="piano", tags=("a", "a", "b")
        )
    )
    assert edit.text == "Toko Yasuda, the piano"
    assert not edit.derived
    assert edit.tags == ("a", "b")
    assert edit.route_text == "Toko Yasuda, the"
    other = build_edit(
        EditDraft(subject="toko yasuda", prompt="Toko  Yasuda, the", target="guitar")
    )
    assert other.conflict_key == edit.conflict_key  # same subject and relation, another target


def test_content_hash_ignores_case_spacing_and_unicode_form() -> None:
    assert content_hash("The Eiffel  Tower", None, None) == content_hash(
        "the eiffel tower", None, None
    )
    assert content_hash("café", None, None) == content_hash("cafe\u0301", None, None)
    assert content_hash("a", "p", "x") != content_hash("a", "p", "y")


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (EditDraft(text=""), "needs text"),
        (EditDraft(text="   \n\t "), "needs text"),
        (EditDraft(text="x" * (MAX_TEXT_BYTES + 1)), "limit"),
        (EditDraft(text="é" * (MAX_TEXT_BYTES // 2 + 1)), "limit"),  # the cap is in bytes
        (EditDraft(text="nul\x00byte"), "control characters"),
        (EditDraft(prompt="Toko Yasuda, the"), "needs a target"),
        (EditDraft(target="piano"), "needs a prompt"),
        (EditDraft(text="ok fact", tags=("",)), "tags"),
        (EditDraft(text="ok fact", tags=tuple(f"t{i}" for i in range(40))), "at most"),
        (EditDraft(text="ok fact", id="not-a-ulid"), "not a ULID"),
        (EditDraft(text="ok fact", created="yesterday"), "ISO-8601"),
        (EditDraft(text="ok fact", created="2024-01-01T00:00:00"), "time zone"),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(draft: EditDraft, message: str) -> None:
    with pytest.raises(InvalidEditError, match=message):
        build_edit(draft)


def test_record_round_trip_keeps_every_field() -> None:
    edit = build_edit(
        EditDraft(text="The Eiffel Tower is located in Rome.", tags=("demo",), source="cli")
    )
    again = edit_from_record(edit.to_dict())
    assert again.to_dict() == edit.to_dict()
    assert again.content_hash == edit.content_hash
    assert again.conflict_key == edit.conflict_key


def test_created_times_are_normalised_to_utc() -> None:
    edit = build_edit(EditDraft(text="ok fact", created="2024-05-01T12:00:00+02:00"))
    assert edit.created == "2024-05-01T10:00:00.000000+00:00"

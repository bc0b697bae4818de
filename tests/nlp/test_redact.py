"""Redaction behaviour: every type in its common formats, and place names left alone."""
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nlp.redact import PII_TYPES, PiiSpan, Redactor, default_redactor, nhs_number_valid

REPO = Path(__file__).resolve().parents[2]
PII_SET = REPO / "tests/fixtures/pii/pii_sentences.jsonl"
LABELLED = REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv"


@pytest.fixture(scope="module")
def r() -> Redactor:
    return default_redactor()


def found(r: Redactor, text: str) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.type) for s in r.find(text)]


@pytest.mark.parametrize("number", [
    "07700 900123", "07700900123", "07700 900 123", "07700-900-123", "+44 7700 900123", "+447700900123",
    "0044 7700 900123", "(01632) 960123", "01632 960 123", "01632960123", "+44 (0)1632 960123",
    "0113 496 0123", "(0113) 496 0123", "020 7946 0123", "020 79460123", "01632 960123 ext 204",
    "01632 960 123 ext. 12", "01632 960123 x 3",
])
def test_phone_formats(r, number):
    assert found(r, f"Ring me on {number} after 6pm.") == [(number, "PHONE")]
    assert found(r, f"tel:{number}") == [(number, "PHONE")]


@pytest.mark.parametrize("text, ext", [
    ("Ask for [NAME] on ext 4471 about the clinic.", "ext 4471"), ("Ward 5B, extension 2290.", "extension 2290"),
    ("Ring switchboard and ask for Ext. 30112", "Ext. 30112"), ("Pharmacy is extn: 612, ask for the lead.", "extn: 612"),
])
def test_an_extension_on_its_own_is_a_phone(r, text, ext):
    assert (ext, "PHONE") in found(r, text)


@pytest.mark.parametrize("text", [
    "Call 111 or 999 if it is urgent.", "The extension 12 years ago was never finished.",
    "Ext 2 of the building has no lift.", "Extend 4471 hours of cover.", "Lines open 08:00-18:30, appointments go by 08.05.",
    "The 0-19 service in Copeland is stretched.", "Parking is £3.20 for 4 hours.", "Ref NC/2019/4417.",
    "My appointment on 03/02/2019 was cancelled.", "3,000 staff and 900 parking spaces.",
])
def test_numbers_that_are_not_phones(r, text):
    assert r.find(text) == []


@pytest.mark.parametrize("email", [
    "pete.graham1960@example.com", "jbrannigan78@example.co.uk", "d.wilson.ncic@example.nhs.uk",
    "carer_cockermouth+nhs@example.net", "Sandra.Irving@Example.org",
])
def test_emails(r, email):
    assert found(r, f"Email me at {email}, thanks.") == [(email, "EMAIL")]


def test_nhs_number_modulus_11():
    assert nhs_number_valid("9434765919") and nhs_number_valid("943 476 5919") and nhs_number_valid("943-476-5919")
    assert not nhs_number_valid("9434765918")      # wrong check digit
    assert not nhs_number_valid("1234567890")      # check digit would be 10: never issued
    assert not nhs_number_valid("943476591") and not nhs_number_valid("94347659190") and not nhs_number_valid("")


@pytest.mark.parametrize("number", ["943 476 5919", "9434765919", "943-476-5919", "999 420 5552"])
def test_nhs_numbers(r, number):
    assert found(r, f"NHS no {number}, please check my record.") == [(number, "NHS_NUMBER")]


def test_ten_digits_failing_modulus_11_are_not_nhs_numbers(r):
    assert r.find("Complaint number 943 476 5918 was never answered.") == []
    # ...but a phone-shaped one is still a phone number, whatever it follows
    assert not nhs_number_valid("0163296012")
    assert found(r, "Ring 016 329 6012 after 5.") == [("016 329 6012", "PHONE")]
    assert found(r, "NHS no 0163296012") == [("0163296012", "PHONE")]
    # a valid one that starts with 0 is a phone unless "NHS" comes before it
    assert nhs_number_valid("0163296014")
    assert found(r, "Ring 0163296014 after 5.") == [("0163296014", "PHONE")]
    assert found(r, "NHS no 0163296014") == [("0163296014", "NHS_NUMBER")]


@pytest.mark.parametrize("postcode", ["CA28 7QD", "CA2 7HY", "LA18 4AA", "CA287QD", "ca14 3ny"])
def test_full_postcodes(r, postcode):
    assert found(r, f"Postcode {postcode}, near the hospital.") == [(postcode, "POSTCODE")]


def test_postcode_districts_alone_are_not_personal(r):
    assert r.find("I live in CA28, my sister is in CA14 and we both go to LA18 for the dentist.") == []
    assert r.find("ca28 2nd time this month") == []


@pytest.mark.parametrize("text, address", [
    ("Mrs Hetherington, 7 Loop Road South, Whitehaven.", "7 Loop Road South"),
    ("Write to Flat 2, 14 Station Street, Cockermouth.", "Flat 2, 14 Station Street"),
    ("My address is 12a High St, Wigton.", "12a High St"),
    ("Edith Tyson, 14 Fell View, Hensingham.", "14 Fell View"),
    ("Send it to 3 St Bees Road, Whitehaven.", "3 St Bees Road"),
])
def test_addresses_keep_the_town(r, text, address):
    assert (address, "ADDRESS") in found(r, text)
    assert not any(t in ("Whitehaven", "Wigton", "Cockermouth", "Hensingham") for t, _ in found(r, text))


@pytest.mark.parametrize("text, dob", [
    ("My son (DOB 03/02/1989) was discharged.", "03/02/1989"),
    ("Mum was born 3rd February 1939.", "3rd February 1939"),
    ("Her date of birth: 3.2.89, in case you need it.", "3.2.89"),
    ("D.O.B. 30.9.44 - still waiting.", "30.9.44"),
    ("She was born on the 5th of August 1950.", "5th of August 1950"),
])
def test_dates_of_birth(r, text, dob):
    assert (dob, "DOB") in found(r, text)


@pytest.mark.parametrize("text", [
    "My appointment on 03/02/2019 was cancelled.", "Come back on 14.08.2019 for results.",
    "I was born at the West Cumberland Hospital.", "He was born in 1998 and has never had a dentist.",
])
def test_ordinary_dates_are_not_dates_of_birth(r, text):
    assert r.find(text) == []


@pytest.mark.parametrize("text, name", [
    ("Id like to thank Dr Singh and the ED team.", "Dr Singh"),
    ("I don't drive!! Mrs R. Hetherington, Whitehaven.", "Mrs R. Hetherington"),
    ("Contact: Rev. Alan Fisher, Parish Clerk.", "Rev. Alan Fisher"),
    ("Thanks to Nurse Jones on the stroke ward.", "Nurse Jones"),
    ("Sister Patel ran the ward like clockwork.", "Sister Patel"),
    ("Please write to Mr and Mrs Smith at home.", "Mr and Mrs Smith"),
    ("Mr O'Neill the consultant explained it.", "Mr O'Neill"),
    ("Jane Bowman on 5B is the only reason I stayed.", "Jane Bowman"),
    ("Its the Lowther Street surgery, I'm Pete Graham, ring me.", "Pete Graham"),
    ("My midwife Lucy was brilliant.", "Lucy"),
    ("Sharon on reception told me to ring back.", "Sharon"),
    ("My name is Margaret Fell and I live in Millom.", "Margaret Fell"),
    ("Contact: Sarah Bell, Partnerships Manager.", "Sarah Bell"),
    ("He gave his name as Tom Dixon.", "Tom Dixon"),
    ("Ask for Bill Sewell at Wigton.", "Bill Sewell"),
    ("Ask for Grace at the Keswick drop-in.", "Grace"),
    ("My daughter Penny has waited 14 months.", "Penny"),
    ("Will Atkinson from Silloth rang 111.", "Will Atkinson"),
    ("My name is Xanthe Blenkinsop.", "Xanthe Blenkinsop"),
    ("my name is pete graham and i waited 2 years", "pete graham"),
    ("I raised it with my matron (Helen Carr) twice.", "Helen Carr"),
    ("Tom's dad waited 3 days for a bed.", "Tom"),
    ("Jean and Derek from the lunch club said so.", "Jean"),
    ("Saw Dr. S. Khan, then Mr J P Harris.", "Mr J P Harris"),
])
def test_names(r, text, name):
    assert (name, "NAME") in found(r, text)


@pytest.mark.parametrize("text", [
    "Will someone please answer the phone?", "The bill for parking is a disgrace.",
    "I hope the new ICC has a pharmacy.", "Mark my words, staff will leave.", "May I suggest a staff bank?",
    "Grace period for parking fines would help.", "Penny pinching at the top.", "Hope is running out in Millom.",
    "We had no cover in May and June.", "The Nurse Practitioner at Cleator Moor is excellent.",
    "Our Sister is brilliant.", "The Dr said to go to Carlisle.", "Father Christmas visits the ward.",
    "My name is not important.", "Appointment 2:30 pm at Stanley.", "Prince Charles visited.",
    "Will and Grace is on the telly.", "Dr Foster's report was damning.", "The 2 Mile Hill roadworks add an hour.",
])
def test_words_that_look_like_names(r, text):
    assert r.find(text) == []


PLACES = ("Carlisle, Whitehaven, Keswick, Penrith, Workington, Maryport, Cockermouth, Wigton, Alston, Millom, "
          "Cleator Moor, Egremont, Brampton, Appleby, Silloth, Seascale, Kirkoswald, Allerdale, Eden, Copeland, "
          "Kirkby Stephen, St Bees, Hensingham. West Cumberland Hospital, the Cumberland Infirmary, Penrith "
          "hospital, Ruth Lancaster hospital, the Ruth Lancaster James Cottage Hospital, Mary Hewetson Cottage "
          "Hospital, Victoria Cottage Hospital, Carleton Clinic, Lowther Street surgery, James Cook University "
          "Hospital, Queen Elizabeth Hospital. A&E, GP, CAMHS, ICC, PCN, NHS App, 111, CA28, LA18, A595, M6.")


def test_place_and_hospital_names_are_never_redacted(r):
    assert r.find(PLACES) == []
    for sentence in PLACES.split(". "):
        assert r.redact(sentence) == sentence


@pytest.mark.parametrize("text, expected", [
    ("The clinic at the Victoria Hall was great.", "The clinic at the Victoria Hall was great."),
    ("Meet at Victoria Hall in Penrith.", "Meet at Victoria Hall in Penrith."),
    ("Pupils at Ulverston Victoria High need a counsellor.", "Pupils at Ulverston Victoria High need a counsellor."),
    ("The path in Victoria Park is not lit.", "The path in Victoria Park is not lit."),
    # A person with the same surname is still a person.
    ("Jane Hall on ward 5 was lovely.", "[NAME] on ward 5 was lovely."),
    ("I spoke to Jane Hall at the surgery.", "I spoke to [NAME] at the surgery."),
    ("Thanks to Sarah Green in pharmacy.", "Thanks to [NAME] in pharmacy."),
    ("I was in Jane Hall's care for a week.", "I was in [NAME]'s care for a week."),
])
def test_a_place_named_like_a_person_after_at_the(r, text, expected):
    """User test 5: "Victoria Hall" and "Ulverston Victoria High" were printed as "[NAME]"."""
    assert r.redact(text) == expected


def test_placeholders_are_typed():
    text = ("Mrs R. Hetherington, 7 Loop Road South, Whitehaven CA28 7QD, DOB 03/02/1989, NHS no 943 476 5919, "
            "07700 900123, r.h@example.com, staff number 20459833")
    assert default_redactor().redact(text) == ("[NAME], [ADDRESS], Whitehaven [POSTCODE], DOB [DOB], "
                                               "NHS no [NHS_NUMBER], [PHONE], [EMAIL], staff number [ID_NUMBER]")
    assert {s.type for s in default_redactor().find(text)} == set(PII_TYPES)


def load_pii_set() -> list[dict]:
    return [json.loads(line) for line in PII_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_pii_set_is_well_formed():
    rows = load_pii_set()
    assert len(rows) >= 160 and sum(not row["spans"] for row in rows) >= 60
    for row in rows:
        for s in row["spans"]:
            assert s["type"] in PII_TYPES and 0 <= s["start"] < s["end"] <= len(row["text"])
            if s["type"] == "NHS_NUMBER":
                assert nhs_number_valid(row["text"][s["start"]:s["end"]])


def test_pii_set_recall_and_precision(r):
    """The benchmark's headline figures, as a floor (benchmarks/pii.py prints the table)."""
    tp_pred = n_pred = tp_gold = n_gold = 0
    for row in load_pii_set():
        gold = [PiiSpan(**s) for s in row["spans"]]
        pred = r.find(row["text"])
        hit = lambda a, b: a.type == b.type and a.start < b.end and b.start < a.end  # noqa: E731
        n_pred, tp_pred = n_pred + len(pred), tp_pred + sum(any(hit(p, g) for g in gold) for p in pred)
        n_gold, tp_gold = n_gold + len(gold), tp_gold + sum(any(hit(p, g) for p in pred) for g in gold)
        if not gold:
            assert r.redact(row["text"]) == row["text"]
    assert tp_gold / n_gold >= 0.98 and tp_pred / n_pred >= 0.97


def test_spans_sorted_non_overlapping_and_redaction_idempotent(r):
    for row in load_pii_set():
        spans = r.find(row["text"])
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
        once = r.redact(row["text"])
        assert r.redact(once) == once


# The rows of the labelled 2019 set that the data README lists as holding made-up personal data,
# with the pieces that must be gone after redaction.
LABELLED_PII = {
    "PUB-0020": ["Pete Graham", "pete.graham1960"], "PUB-0053": ["jbrannigan78"], "PUB-0144": ["Lucy"],
    "PUB-0189": ["Joan Bell", "960 221"], "PUB-0198": ["Daniel Kirkbride", "03/02/1989", "900 263"],
    "PUB-0213": ["Sharon"], "PUB-0223": ["Margaret Fell", "900418"],
    "PUB-0252": ["Hetherington", "7 Loop Road South"], "PUB-0285": ["Bill Sewell", "960 509"],
    "PUB-0295": ["Susan Hodgson", "3 Brunswick Terrace"], "PUB-0300": ["Brian Holmes", "960 372"],
    "PUB-0311": ["Gillian Routledge", "g.routledge"], "PUB-0323": ["Patel"],
    "PUB-0380": ["Edith Tyson", "14 Fell View", "k.tyson"], "STF-0028": ["Singh"], "STF-0046": ["Jane Bowman"],
    "STF-0131": ["d.wilson"], "STF-0175": ["Helen Carr"], "STF-0176": ["Claire Nixon", "960 114"],
    "STF-0177": ["t.moffat"], "HW-0013": ["Tom Dixon", "Moore"], "HW-0017": ["Amy Kelly", "900 917"],
    "HW-0045": ["Lorraine Pattinson", "900 532"], "HW-0078": ["George Irving", "12 Church Street", "900 684"],
    "HW-0084": ["Steel", "960 118"], "HW-0122": ["Anne Ritson", "anne.ritson52"],
    "PAR-0048": ["Mark Jackson", "960 455"], "PAR-0082": ["Sarah Bell", "sarah.bell", "960 287"],
    "PAR-0099": ["Alan Fisher", "960 390", "clerk.kirkoswald"],
}


@pytest.mark.skipif(not LABELLED.exists(), reason="labelled 2019 set not present")
def test_labelled_set_personal_data_removed_and_nothing_else_touched(r):
    df = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    for rid, text in zip(df["response_id"], df["text"]):
        out = r.redact(text)
        if rid in LABELLED_PII:
            assert not [p for p in LABELLED_PII[rid] if p in out], (rid, out)
        else:
            assert out == text, (rid, r.find(text))


def test_custom_gazetteers():
    r = Redactor(safe_terms=["Ambleside"], first_names=["Ambleside", "Tamsin"], titles=["Dr"])
    assert found(r, "Tamsin Ambleside from Ambleside") == [("Tamsin", "NAME")]
    assert found(r, "Dr Jones") == [("Dr Jones", "NAME")]


def config() -> dict:
    return yaml.safe_load((REPO / "config/redaction.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.pop("titles"), "missing required key"),
    (lambda c: c.update(extra=[]), "unknown key"),
    (lambda c: c.update(titles="Dr"), "'titles' must be a list"),
    (lambda c: c["safe_terms"].update(places=["Carlisle", 111]), "safe_terms.places"),
    (lambda c: c.update(first_names={"word_like": ["Will"]}), "'common' list"),
    (lambda c: c["first_names"]["common"].append("  "), "first_names.common"),
])
def test_config_validation(mutate, message):
    cfg = config()
    Redactor.from_config(cfg)
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        Redactor.from_config(cfg)
    with pytest.raises(ValueError, match="mapping"):
        Redactor.from_config(["not", "a", "mapping"])


@pytest.mark.parametrize("text, name", [
    ("Chidi Okafor on reception at Wigton was rude.", "Chidi Okafor"),
    ("My son Jayden waited six hours in A&E.", "Jayden"),
    ("Krzysztof from the ambulance crew was brilliant.", "Krzysztof"),
    ("Ask nurse Bernadette on ward 5, she knows.", "Bernadette"),
    ("Contact Aleksandra Nowak about the group.", "Aleksandra Nowak"),
    ("my daughter Olu has asthma and the inhalers ran out.", "Olu"),
    ("Ring Siddharth Rao, he runs the carers' group.", "Siddharth Rao"),
    ("My GP dr whitfield is the only one who listens.", "dr whitfield"),
])
def test_names_outside_the_gazetteer(r, text, name):
    """A capitalised word no dictionary or list knows, backed by a cue or a second such word."""
    assert (name, "NAME") in found(r, text)


@pytest.mark.parametrize("text", [
    "Covid and Brexit hit staffing at West Cumberland Hospital.", "SystmOne and EMIS don't talk to each other.",
    "Couldn't get an appointment at Whitehaven.", "Walked to the Infirmary from Botcherby.",
    "Ask reception for a callback.", "Ring the surgery at 8am.", "My son Has to travel to Newcastle.",
])
def test_unknown_word_rules_leave_ordinary_text_alone(r, text):
    assert r.find(text) == []


def test_names_outside_the_gazetteer_need_the_dictionary():
    """Without English words nothing tells "Okafor" from a place, so the rule stays off."""
    bare = Redactor(first_names=["Sarah"])
    assert bare.find("Chidi Okafor on reception at Wigton was rude.") == []


@pytest.mark.parametrize("text, expected", [
    # A first name that is also an English word, after a job and before an unknown surname.
    ("Our social worker Precious Mbeki was fantastic.", "Our social worker [NAME] was fantastic."),
    ("Our health visitor Blessing Adeyemi came twice.", "Our health visitor [NAME] came twice."),
    ("The care coordinator, Tariq Mahmood, never rang back.", "The care coordinator, [NAME], never rang back."),
    ("Our social worker Mbeki was fantastic.", "Our social worker [NAME] was fantastic."),
    # Capitalised words after a job that are not a name stay.
    ("Our social worker Team Lead was off.", "Our social worker Team Lead was off."),
    ("The consultant Stroke Unit in Carlisle is good.", "The consultant Stroke Unit in Carlisle is good."),
])
def test_names_after_a_job(r, text, expected):
    assert r.redact(text) == expected


def test_a_postcode_column_keeps_the_district():
    """A form's "Your postcode" of full postcodes became "[POSTCODE]" and lost every locality."""
    from nlp.redact import postcode_district

    assert [postcode_district(v) for v in ("LA9 4DT", "la9 4dt", "LA94DT", " CA1 2AB ", "SW1A 1AA")] == \
        ["LA9", "LA9", "LA9", "CA1", "SW1A"]
    # Only a value that is a postcode and nothing else: a district, free text or a place stays as it is.
    assert [postcode_district(v) for v in ("CA28", "CA14 3", "my house LA9 4DT", "Kendal", "")] == [None] * 5



@pytest.mark.parametrize("text, redacted", [
    ("My staff number is 20459833 and my payslip has been wrong", "My staff number is [ID_NUMBER] and my payslip has been wrong"),
    ("My assignment number is 20459833", "My assignment number is [ID_NUMBER]"),
    ("ESR number 12345678", "ESR number [ID_NUMBER]"),
    ("My GMC number is 7012345", "My GMC number is [ID_NUMBER]"),
    ("NMC PIN 12A3456E", "NMC PIN [ID_NUMBER]"),
    ("My employee ID is E1234567", "My employee ID is [ID_NUMBER]"),
    ("his hospital number is K123456", "his hospital number is [ID_NUMBER]"),
    ("Call me on x5521", "Call me on [PHONE]"),
    ("Bleep 2231 if it is urgent", "Bleep [PHONE] if it is urgent"),
    ("my pager goes off all night, bleep me on 4471", "my pager goes off all night, bleep me on [PHONE]"),
    ("I work nights on ward 23 with Chidi and Oluwadamilare", "I work nights on ward 23 with [NAME] and [NAME]"),
    ("I work with Sarah and Oluwadamilare", "I work with [NAME] and [NAME]"),
    # User test 6: an employer's prefix, and a double-barrelled surname.
    ("Staff ID WCC-004512: the gym scheme got cut.", "Staff ID [ID_NUMBER]: the gym scheme got cut."),
    ("payroll no. NHS/30418876", "payroll no. [ID_NUMBER]"),
    ("Ffion Pryce-Jones from the wellbeing cafe is a star.", "[NAME] from the wellbeing cafe is a star."),
    ("Trips to Newcastle-Upon-Tyne take all day.", "Trips to Newcastle-Upon-Tyne take all day."),
    # User test 7: a child's name that is also a word, or possessive, after "my daughter"/"my son".
    ("my daughter Saffron cut herself again last night", "my daughter [NAME] cut herself again last night"),
    ("My son Tyrone's NHS number is on the letter", "My son [NAME]'s NHS number is on the letter"),
    ("my mum Alzheimer's is getting worse", "my mum Alzheimer's is getting worse"),
    ("my dad Parkinsons means he falls", "my dad Parkinsons means he falls"),
    ("my nan Whitehaven hospital was good", "my nan Whitehaven hospital was good")])
def test_staff_identifiers_bleeps_and_paired_names(text, redacted):
    """User test 4 found a staff number printed in a report quote, and these kept as typed."""
    assert default_redactor().redact(text) == redacted


@pytest.mark.parametrize("text", ["We have 2000 staff and 40 beds", "ward 23 and ward 5", "the x-ray took 3 hours",
                                  "Band 5 nurses on 5B", "Covid and Brexit hit staffing", "3x1000 units",
                                  # a final review found these redacted by the first version of the rules
                                  "The NMC 2018 code says we must be kind.", "My ESR 2019 appraisal never happened.",
                                  "Struggling with Covid and Brexit hitting staffing.",
                                  "The x1000 magnification microscope is broken.",
                                  "I was on Ward 22, Cumberland Infirmary, Carlisle for 3 weeks."])
def test_counts_wards_and_pairs_of_things_stay(text):
    assert default_redactor().redact(text) == text


def test_a_house_and_street_with_no_street_type_before_a_town_and_postcode_is_an_address():
    """User test 5 found "12 Sandgate, Penrith CA11 7TP" stored with the house and street as typed."""
    from nlp.preprocess import is_contact_only

    redacted = default_redactor().redact("Please contact me: Jade Wilkinson, 12 Sandgate, Penrith CA11 7TP, "
                                         "jade.w@example.com")
    assert redacted == "Please contact me: [NAME], [ADDRESS], Penrith [POSTCODE], [EMAIL]"
    assert is_contact_only(redacted)  # so it is no point about anything

from nlp.attribution import Disclosure, attribution, facets


def test_smartsurvey_metadata_gives_district_and_age_band():
    meta = {"Q3. Age group": "65-74", "Q4. Postcode district": "ca28", "Started": "08/07/2019 10:13:57"}
    assert facets(meta) == {"age_band": "65–74", "locality": "CA28"}
    assert attribution("public", meta) == "member of the public, CA28, 65–74"


def test_missing_redacted_or_declined_values_are_left_out():
    assert attribution("staff", {"Age band": "Prefer not to say", "Postcode": "[POSTCODE]"}) == "staff member"
    assert attribution("healthwatch", '{"Venue": "Maryport drop-in"}') == "Healthwatch, Maryport drop-in"
    assert attribution("partner", None) == "partner organisation"


def test_one_place_however_it_was_typed_and_no_place_for_a_non_answer():
    """Seen in a Citizen Space export: "CA14 3" (district and sector), "Dont know", "carlisle"."""
    assert facets({"What is your postcode district?": "CA14 3"}) == {"locality": "CA14"}
    for typed in ("carlisle", "CARLISLE", "Carlisle"):
        assert facets({"Town": typed}) == {"locality": "Carlisle"}
    assert facets({"Town": "Cleator moor"}) == {"locality": "Cleator moor"}  # mixed case is kept as typed
    for said_nothing in ("Dont know", "don't know", "Not sure.", "None", "-"):
        assert facets({"Postcode district": said_nothing}) == {}


def test_age_needs_an_age_shaped_value():
    assert facets({"Page count": "12"}) == {}
    assert facets({"Age": "75+"}) == {"age_band": "75+"}


def test_a_map_position_is_not_a_locality():
    meta = {"Location Latitude": "53.8041", "Location Longitude": "-3.0511",
            "What is the first part of your postcode? (e.g. LA1)": "FY8", "What is your age?": "65-74"}
    assert attribution("public", meta) == "member of the public, FY8, 65–74"
    assert facets({"Location Latitude": "[LOCATION]"}) == {}


def _people(*groups: tuple[int, str, dict]) -> list[tuple[str, dict]]:
    return [(source, meta) for n, source, meta in groups for _ in range(n)]


def test_small_groups_are_not_named_age_band_first_then_locality():
    alston_teen = {"Age group": "Under 18", "Postcode district": "CA9"}
    people = Disclosure(5).fit(_people(
        (1, "public", alston_teen), (5, "public", {"Age group": "65-74", "Postcode district": "CA9"}),
        (6, "public", {"Age group": "65-74", "Postcode district": "CA28"}),
        (4, "public", {"Age group": "Under 18", "Postcode district": "CA28"}),
        (2, "public", {"Age group": "25-34", "Postcode district": "CA12"}),
        (1, "public", {"Age group": "65-74", "Postcode district": "CA20"}),
        (9, "staff", {"Postcode district": "CA9"})))
    assert attribution("public", {"Age group": "65-74", "Postcode district": "CA28"}, people) == \
        "member of the public, CA28, 65–74"
    # 1 teenager in CA9: the age band goes, and 6 public respondents live in CA9.
    assert attribution("public", alston_teen, people) == "member of the public, CA9"
    # 2 public respondents in CA12, both 25-34: neither may be named.
    assert attribution("public", {"Age group": "25-34", "Postcode district": "CA12"}, people) == "member of the public"
    # Only the locality is too small: the age band alone is kept (12 public respondents are 65-74).
    assert attribution("public", {"Age group": "65-74", "Postcode district": "CA20"}, people) == \
        "member of the public, 65–74"
    # Groups are counted within a source: the 9 staff in CA9 do not hide a public respondent there.
    assert attribution("staff", {"Postcode district": "CA9"}, people) == "staff member, CA9"
    # Without a Disclosure (or with a group size of 1) nothing is held back.
    assert attribution("public", alston_teen) == "member of the public, CA9, Under 18"
    assert attribution("public", alston_teen, Disclosure(1).fit(_people((1, "public", alston_teen)))) == \
        "member of the public, CA9, Under 18"

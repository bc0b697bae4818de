from nlp.attribution import attribution, facets


def test_smartsurvey_metadata_gives_district_and_age_band():
    meta = {"Q3. Age group": "65-74", "Q4. Postcode district": "ca28", "Started": "08/07/2019 10:13:57"}
    assert facets(meta) == {"age_band": "65–74", "locality": "CA28"}
    assert attribution("public", meta) == "public survey, CA28, 65–74"


def test_missing_redacted_or_declined_values_are_left_out():
    assert attribution("staff", {"Age band": "Prefer not to say", "Postcode": "[POSTCODE]"}) == "staff survey"
    assert attribution("healthwatch", '{"Venue": "Maryport drop-in"}') == "Healthwatch, Maryport drop-in"
    assert attribution("partner", None) == "partner organisation"


def test_age_needs_an_age_shaped_value():
    assert facets({"Page count": "12"}) == {}
    assert facets({"Age": "75+"}) == {"age_band": "75+"}


def test_a_map_position_is_not_a_locality():
    meta = {"Location Latitude": "53.8041", "Location Longitude": "-3.0511",
            "What is the first part of your postcode? (e.g. LA1)": "FY8", "What is your age?": "65-74"}
    assert attribution("public", meta) == "public survey, FY8, 65–74"
    assert facets({"Location Latitude": "[LOCATION]"}) == {}

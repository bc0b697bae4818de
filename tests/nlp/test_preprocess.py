import pytest

from nlp.preprocess import is_empty_answer, may_not_be_english, preprocess


@pytest.mark.parametrize("text", ["n/a", "N/A", "No comment.", "no comments", "?", "idk", "as above", "Nothing",
                                  "  none  ", "N/a thanks", "See previous answer", "Nothing more to add thank you",
                                  "no further comments", "Same as Q1", "Not at the moment", "None at this time",
                                  "nothing really",
                                  "If you would like to discuss these notes contact [NAME] on [PHONE] or [EMAIL]."])
def test_non_answers_are_detected(text):
    assert is_empty_answer(text)


@pytest.mark.parametrize("text", ["No comment on GPs, but A&E is awful", "More GPs", "nothing works at the surgery",
                                  "No more closures", "See above - dentists", "Thank you for asking about carers"])
def test_real_answers_are_not_empty(text):
    assert not is_empty_answer(text)


def test_segments_are_sentences_with_offsets_and_lemmas():
    text = "The GP never answers the phone. Waiting lists are getting longer! Ok."
    (p,) = list(preprocess([text]))
    assert [s.text for s in p.segments] == ["The GP never answers the phone.", "Waiting lists are getting longer! Ok."]
    for s in p.segments:
        assert text[s.start:s.end] == s.text
    assert "list" in p.segments[1].lemmas.split() and "answer" in p.segments[0].lemmas.split()
    assert not p.is_empty


def test_streams_many_answers_in_order():
    texts = [f"Answer number {i} about the hospital." for i in range(300)]
    out = list(preprocess(texts, batch_size=64))
    assert [o.text for o in out] == texts


@pytest.mark.parametrize("text, expected", [
    ('Couple at the Keswick event praised the district nurses. "We couldn\'t have done it without them."',
     ["Couple at the Keswick event praised the district nurses.", '"We couldn\'t have done it without them."']),
    ("He said the pharmacist spotted it. “Best service I've had in years.”",
     ["He said the pharmacist spotted it.", "“Best service I've had in years.”"]),
    # A closing quote stays where it is.
    ('They told us "that is how we do it." Nobody listened to the ward staff.',
     ['They told us "that is how we do it."', "Nobody listened to the ward staff."]),
])
def test_opening_quotation_marks_go_with_the_sentence_they_open(text, expected):
    (p,) = list(preprocess([text]))
    assert [s.text for s in p.segments] == expected
    for s in p.segments:
        assert text[s.start:s.end] == s.text


def test_redaction_placeholders_stay_whole_across_sentences():
    text = "Nothing happened when I reported it. [NAME] on 5B is the only reason I stayed."
    (p,) = list(preprocess([text]))
    assert [s.text for s in p.segments] == ["Nothing happened when I reported it.",
                                            "[NAME] on 5B is the only reason I stayed."]
    for s in p.segments:
        assert text[s.start:s.end] == s.text


@pytest.mark.parametrize("text", ["Please get in touch: [PHONE]", "My email is [EMAIL], happy to discuss further.",
                                  "[NAME], [ADDRESS]", "I'm happy to be contacted on [PHONE] or [EMAIL]. Thanks",
                                  "I live at [ADDRESS]", "Contact: [NAME], Parish Clerk, [PHONE], [EMAIL]",
                                  "She asked for a call back: [NAME], [PHONE].", "[NAME], [ADDRESS], Whitehaven.",
                                  "Ring me on [PHONE] if you want to know what it's really like"])
def test_contact_details_alone_are_not_an_answer(text):
    assert is_empty_answer(text)


@pytest.mark.parametrize("text", ["Call me on [PHONE] about the GP closure", "I live at [ADDRESS] and the bus never comes",
                                  "Please contact me", "[NAME] at the surgery was wonderful",
                                  "Ask for [NAME] about A&E on [PHONE]", "Thank you [NAME] at Keswick Surgery"])
def test_contact_details_with_something_said_are_an_answer(text):
    assert not is_empty_answer(text)


@pytest.mark.parametrize("text, expected", [
    ("- More GPs in Barrow\n- Keep A&E open at night\n- Better buses to the hospital",
     ["More GPs in Barrow", "Keep A&E open at night", "Better buses to the hospital"]),
    ("More GPs in Barrow\nKeep A&E open at night\nBetter buses to the hospital",
     ["More GPs in Barrow", "Keep A&E open at night", "Better buses to the hospital"]),
    ("- Text reminders are really helpful - Online self referral worked well - Shorter waits for therapy",
     ["Text reminders are really helpful", "Online self referral worked well", "Shorter waits for therapy"]),
    ("1. Stop smoking support that isn't just a leaflet 2. Weight management groups in Workington "
     "3. Debt advice at the GP - money worries make people ill",
     ["Stop smoking support that isn't just a leaflet", "Weight management groups in Workington",
      "Debt advice at the GP - money worries make people ill"]),
    ("Top things:\n1. Train local young people to be nurses and keep them here.\n2. Fix the rotas so people can plan.",
     ["Top things:", "Train local young people to be nurses and keep them here.", "Fix the rotas so people can plan."]),
    # A dash inside a sentence, and a number, are not list items.
    ("The staff were great - but the wait was 6 hours and nobody said why",
     ["The staff were great - but the wait was 6 hours and nobody said why"]),
])
def test_each_item_of_a_list_is_a_segment_of_its_own(text, expected):
    (p,) = list(preprocess([text]))
    assert [s.text for s in p.segments] == expected
    for s in p.segments:
        assert text[s.start:s.end] == s.text


@pytest.mark.parametrize("text", ["Diolch am ofyn. Mae angen mwy o feddygon teulu yn yr ardal.",
                                  "Dzień dobry, czekam na lekarza od trzech miesięcy i nikt nie odbiera telefonu.",
                                  "Necesitamos más médicos en el hospital de Whitehaven.",
                                  "Нам нужно больше врачей в больнице",
                                  # Dutch shares "in", "is", "heel", "om" with English (user test 3 missed it)
                                  "Ik woon in Bowness en het is heel moeilijk om een tandarts te vinden.",
                                  "Ich warte seit drei Monaten auf einen Termin und das ist nicht gut"])
def test_answers_in_another_language_are_marked(text):
    assert may_not_be_english(text)


@pytest.mark.parametrize("text", ["the gp is gr8 wen u get in but gettin in is imposs", "gettin a docter appt without "
                                  "waitin 3 weeks", "A café in Keswick runs a dementia group", "Diolch am ofyn.",
                                  "Value for money for the taxpayer", "Keep paeds at Whitehaven and Carlisle",
                                  "The des res flats at the old hospital que up for the bus, no pas for carers"])
def test_english_text_speak_and_short_answers_are_not(text):
    assert not may_not_be_english(text)

"""Statements a strategy author can print: asks over anecdotes, whole phrases, distinct wording."""
import re

import numpy as np
import pandas as pd
import pytest

from nlp.embed import embed
from nlp.summarise import (MAX_WORDS, MIN_WORDS, candidate_clauses, casing_table, clean_clause, distinct_statements,
                           fallback_statement, fix_casing, is_anecdote, is_ask, leans_on_context, make_statement,
                           printable, reusable_statement, select_quotes, summarise_theme, words)

HEART = ["I've got heart failure, diabetes and I'm overweight.",
         "My husband waited four hours for the heart failure nurse last week.",
         "We need more heart failure nurses in the community.",
         "The heart failure clinic in Whitehaven is brilliant, I'd be lost without it."]

DANGLING = re.compile(r"\b(?:and|or|but|the|a|an|to|of|for|with|because|our|their)$", re.IGNORECASE)


def theme(texts, people=None, sources=None):
    n = len(texts)
    return pd.DataFrame({"text": texts, "source": sources or ["public"] * n, "source_file": "a.csv",
                         "respondent_id": people or [str(i) for i in range(n)], "question": "Q"})


def centre(emb):
    c = emb.mean(axis=0)
    return c / np.linalg.norm(c)


def test_an_anecdote_is_not_chosen_when_a_suggestion_exists():
    emb = embed(HEART)
    st = summarise_theme(0, theme(HEART), emb, ["heart", "failure", "nurse"], embed)
    assert st.text == "We need more heart failure nurses in the community"
    assert not any(t.startswith(("We've got", "Our husband")) for t, _ in st.alternatives)


def test_anecdotes_and_asks_are_told_apart():
    assert is_anecdote("I've got heart failure, diabetes and I'm overweight.")
    assert is_anecdote("My husband waited four hours for an ambulance.")
    assert is_anecdote("A woman at the Penrith event said she received two letters.")
    assert is_anecdote("I've worked 12.5 hour shifts on ward 3 without sitting down.")
    assert not is_anecdote("I want more GP appointments near home.")
    assert is_ask("More help for older people living alone") and is_ask("Surgeries need more staff")
    assert is_ask("Sort out social care") and not is_ask("Mobile signal is rubbish in half of Cumbria")
    assert not is_ask("We want to thank the heart failure nurse team")


@pytest.mark.parametrize("clause", [
    "Work with schools and the", "It would save admin hours every day", "Call us on [PHONE] about parking",
    "Can we have more parking?", "Across the trust, the CCG and", "Set up a group of parents to help design it",
    "Should save money too", "Turned out to be bowel cancer", "Every time something moves to Carlisle",
    "Parking", "Keep services local in every town and village so that older people and carers do not have to "
    "travel for hours",
    "Meanwhile our daughter can't afford to rent anywhere in Ambleside", "Plus the buses are rubbish"])
def test_fragments_questions_placeholders_and_long_clauses_are_not_printable(clause):
    assert not printable(clause)


def test_every_candidate_from_real_answers_is_a_printable_phrase(labelled_csv):
    texts = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False)["text"].tolist()
    cands = [c for t in texts for c in candidate_clauses(t)]
    assert len(cands) > 300
    for c in cands:
        assert MIN_WORDS <= len(words(c)) <= MAX_WORDS, c
        assert "[" not in c and "]" not in c and "?" not in c, c
        assert not DANGLING.search(c), c
        assert c[0].isupper() or c[0].isdigit() or c[0] in "£\"'", c
        assert not re.search(r"\b(?:I|my|me)\b", c), c  # the strategy's voice, not one person's


def test_headings_remarks_and_what_should_have_happened_once_are_not_statements():
    assert candidate_clauses("Alston Moor community centre: residents want the beds back at Ruth Lancaster.") == \
        ["Residents want the beds back at Ruth Lancaster"]
    assert candidate_clauses("Yeah great that you're asking us what matters.") == []
    assert not printable("Good to see more nurses on the ward") and printable("Good GP access for everyone in town")
    assert not printable("Don't let that happen") and not printable("Roll that out everywhere")
    assert printable("Keep that service open in Keswick")
    assert not printable("Identifying and supporting them should be a core priority")
    assert printable("Recruit more nurses and actually keep them") and printable("Ask patients where they want to be seen")
    assert is_anecdote("A phone call or text would have taken 2 minutes.")
    assert not is_anecdote("We would have to travel to Carlisle for every scan")


@pytest.mark.parametrize("segment", ["Yeah great that you're asking us what matters.", "That's what matters.",
                                     "Please don't let that happen.", "Keep them going.", "It's daft.",
                                     "Identifying and supporting them should be a core priority.",
                                     "Suggested GPs should refer people there.", "We're nowhere near in rural areas."])
def test_a_sentence_whose_point_is_in_another_leans_on_it(segment):
    assert leans_on_context(segment)


@pytest.mark.parametrize("segment", ["Ask patients where they want to be seen.", "Clinical supervision that happens.",
                                     "Same notes, same team.", "It's 40 miles to Carlisle with no bus on Sundays.",
                                     "Keep that service open in Keswick.", "There should be more GPs in Maryport.",
                                     "Nowhere near enough GPs in Maryport.",
                                     "Yeah great that you're asking us, but the surgery in Brampton closes at 4 every day."])
def test_a_sentence_that_says_its_own_point_stands_alone(segment):
    assert not leans_on_context(segment)


def test_reported_speech_keeps_the_ask_and_politeness_is_trimmed():
    assert candidate_clauses("A lady at Egremont suggested good neighbour schemes run by the GP practice.") == \
        ["Good neighbour schemes run by the GP practice"]
    assert clean_clause("NHS dentists in West Cumbria taking on new patients, please!") == \
        "NHS dentists in West Cumbria taking on new patients"


def test_casing_is_put_right_from_the_theme_s_own_spelling():
    table = casing_table(["We live in West Cumbria.", "Jobs for young people in West Cumbria", "Cumbria needs nurses"])
    assert fix_casing("Train nurses here in west cumbria", table) == "Train nurses here in West Cumbria"
    assert fix_casing("Workforce across health AND care") == "Workforce across health and care"
    assert fix_casing("more NHS dentists and A&E staff") == "More NHS dentists and A&E staff"
    # Fillers typed before a capital ("I think The …") do not make "the" a proper noun.
    sloppy = casing_table(["I think The crisis team is good.", "Well The crisis team is good.", "Honestly The wait"])
    assert fix_casing("Transition should start at 16 not the week before", sloppy) == \
        "Transition should start at 16 not the week before"


def test_placeholders_never_reach_a_statement_and_quotes_avoid_them():
    texts = ["Ask for [NAME] at the surgery about more home visits for housebound people.",
             "More home visits for housebound people please.",
             "GPs should do home visits for people who cannot get out.",
             "Home visits from the district nurses for housebound patients.",
             "Keep home visits for the housebound."]
    emb = embed(texts)
    st = summarise_theme(0, theme(texts), emb, ["home", "visits", "housebound"], embed)
    assert "[" not in st.text and "NAME" not in st.text
    assert st.quotes and all("[" not in q["text"] for q in st.quotes)


def test_the_choice_depends_on_the_members_not_their_order():
    texts = HEART + ["Heart failure nurses should visit people at home.", "Cardiac rehab closer to home."]
    emb = embed(texts)
    kws = ["heart", "failure", "nurses"]
    a = summarise_theme(0, theme(texts), emb, kws, embed)
    order = [5, 2, 0, 4, 1, 3]
    b = summarise_theme(0, theme([texts[i] for i in order], [str(i) for i in order]), emb[order], kws, embed)
    assert a.text == b.text and a.alternatives == b.alternatives
    assert {q["text"] for q in a.quotes} == {q["text"] for q in b.quotes}


@pytest.mark.parametrize("texts", [["I've got heart failure."], ["Parking."], ["More parking at the Cumberland Infirmary."],
                                   ["That's it.", "Nothing."]])
def test_a_theme_of_one_or_two_segments_still_gets_an_honest_statement(texts):
    emb = embed(texts)
    st = summarise_theme(0, theme(texts), emb, ["parking"], embed)
    assert MIN_WORDS <= len(words(st.text)) <= MAX_WORDS and "[" not in st.text
    assert st.n == len(texts) and st.alternatives


def test_make_statement_falls_back_to_the_keywords_when_nothing_is_printable():
    texts = ["Parking!", "Parking??"]
    assert make_statement(texts, embed(texts), centre(embed(texts)), ["parking", "spaces"], embed) == \
        "Concerns and ideas about parking and spaces"


def test_the_same_words_are_never_given_to_two_themes_and_the_weaker_claim_moves_on():
    options = [[("More help for older people living alone", 0.98), ("Loneliness should be a priority", 0.9)],
               [("More help for older people living alone", 0.93), ("Keep it simple for old people", 0.8)],
               [("Sort out social care", 1.1)]]
    out = distinct_statements(options, strength=[19, 38, 40])
    assert out == ["More help for older people living alone", "Keep it simple for old people", "Sort out social care"]
    # near-identical wording (case, punctuation, one word) counts as the same
    out = distinct_statements([[("Sort out social care!", 0.9)], [("sort out the social care", 0.5), ("Fund carers", 0.1)]],
                              strength=[1, 1])
    assert out == ["Sort out social care!", "Fund carers"]


def test_a_kept_wording_wins_and_a_theme_that_runs_out_gets_its_fallback():
    options = [[("Get all the computer systems talking", 0.7)], [("Get all the computer systems talking", 0.99)]]
    out = distinct_statements(options, strength=[5, 50], fixed=["Get all the computer systems talking", None],
                              fallback=["Concerns and ideas about IT", "Concerns and ideas about computers"])
    assert out == ["Get all the computer systems talking", "Concerns and ideas about computers"]
    out = distinct_statements([[("A b c d", 1.0)], [("A b c d", 0.5)]], [1, 1], fallback=["Other points", "Other points"])
    assert len(set(out)) == 2


def test_quotes_back_the_statement_and_come_from_different_people():
    texts = ["More parking at the hospital please.", "More parking at the hospital please.",
             "Parking at the Cumberland Infirmary costs a fortune.", "Free parking for patients and visitors."]
    emb = embed(texts)
    chosen = select_quotes(texts, emb, centre(emb), ["a", "a", "b", "c"], n=3, statement=embed(["More parking"])[0],
                           sources=["public", "public", "staff", "public"])
    assert len(chosen) == 3 and len({["a", "a", "b", "c"][i] for i in chosen}) == 3


def test_a_wording_kept_from_an_earlier_run_must_still_meet_the_rules():
    assert reusable_statement("Sort out social care")
    assert not reusable_statement("We've got heart failure, diabetes and we're overweight")
    assert not reusable_statement("Work with schools and the") and not reusable_statement(None)
    alts = ["Train nurses and doctors here in West Cumbria", "Grow your own staff"]
    assert reusable_statement("Train nurses and doctors here in west cumbria", alts) == alts[0]
    assert reusable_statement("Workforce across health and care", alts) is None  # no longer a top candidate
    assert reusable_statement("Grow your own staff", ["A b c d", "E f g h", "I j k l", "Grow your own staff"]) is None


def test_a_pronoun_with_its_noun_in_the_clause_is_fine_one_without_is_not():
    assert printable("Recruit more nurses and actually keep them")
    assert not printable("District councils are working on this and health should be a strong voice")
    assert is_anecdote("The GP and the social worker actually meet up about him")


def test_themes_that_run_out_of_wordings_get_numbered_fallbacks_and_it_terminates():
    from nlp.summarise import distinct_statements

    same = [("More GP appointments in the evening", 1.0)]
    out = distinct_statements([same, same, same, same], [4, 3, 2, 1], fallback=["Other points people raised"] * 4)
    assert out[0] == "More GP appointments in the evening"
    assert out[1:] == ["Other points people raised", "Other points people raised (2)", "Other points people raised (3)"]


def test_quotes_follow_the_wording_the_theme_finally_prints():
    """When a theme's wording moves to another candidate, its quotes are chosen again to back it."""
    import numpy as np
    import pandas as pd

    from nlp.summarise import theme_quotes

    texts = [f"More evening appointments at the surgery for working people {i}" for i in range(4)] + \
            [f"Keep the community hospital beds open in the town {i}" for i in range(4)]
    seg = pd.DataFrame({"text": texts, "source": "public", "source_file": "s.csv",
                        "respondent_id": [str(i) for i in range(8)], "question": "q"})
    a, b = np.eye(8, dtype=np.float32)[0], np.eye(8, dtype=np.float32)[1]
    emb = np.vstack([a + 0.5 * b] * 4 + [b + 0.5 * a] * 4)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    first = theme_quotes(seg, emb, b, n_quotes=1)[0]["text"]
    assert "community hospital" in first
    assert "evening appointments" in theme_quotes(seg, emb, a, n_quotes=1)[0]["text"]


def test_a_long_clause_is_not_cut_inside_a_clause_of_its_own():
    long = ("Our rural community development work in Eden shows that village hubs, community transport "
            "and good neighbour schemes keep people well.")
    assert not any("village hubs" in c and "keep" not in c for c in candidate_clauses(long))
    cut = candidate_clauses("Train nurses and doctors here in West Cumbria, people who grow up here stay here "
                            "and we lose them when they train elsewhere.")
    assert "Train nurses and doctors here in West Cumbria" in cut


def test_a_fallback_names_two_different_things():
    assert fallback_statement(["asking thanks", "thanks asking", "survey", "staff survey"]) == \
        "Concerns and ideas about asking thanks and survey"
    assert fallback_statement(["name", "NAME"]) == "Concerns and ideas about name"
    assert fallback_statement([]) == "Other points people raised"


def test_an_ask_from_the_edge_of_a_theme_does_not_head_it():
    """AIM3's theme of waits in the 2019 sample was headed by the one ask among its members, from its
    edge ("Whitehaven needs its own MRI scanner running 7 days"), because asks are preferred; an ask
    must be about as close to the centre as the closest clause to get that preference."""
    waits = ["Long waits in A&E at Whitehaven, 5 hours last time, staff were doing their best but there just "
             "weren't enough doctors on.",
             "Waiting 6 weeks and then a trip to Carlisle for a 20 min scan is daft.",
             "GP is 3 weeks, A&E is 6 hours, ortho waiting list is 40 weeks.",
             "Test results. I waited 6 weeks for a letter to tell me my scan was clear.",
             "13 hours for a 10 minute appointment.", "Waiting times for physio.", "A&E waiting times.",
             "I had to wait 9 months for counselling and then got 6 sessions.", "Reduce A&E waits.",
             "Whitehaven needs its own MRI scanner running 7 days.",
             "My husband waited 12 weeks to see a urologist about blood in his water.",
             "Waiting lists for operations.", "6 weeks for a mammogram recall.", "The waiting lists are shameful.",
             "Audiology. My digital hearing aids took 9 months to come through and I had to chase them 4 times."]
    st = summarise_theme(0, theme(waits), embed(waits), ["weeks", "months", "waiting", "waited", "a&e"], embed)
    assert "MRI" not in st.text and "wait" in st.text.casefold()
    # Among equally central clauses an ask still wins.
    st = summarise_theme(0, theme(HEART), embed(HEART), ["heart", "failure", "nurse"], embed)
    assert st.text == "We need more heart failure nurses in the community"


@pytest.mark.parametrize("clause, expected", [
    ("Speaking as a nurse, the crisis team is overwhelmed every weekend", "The crisis team is overwhelmed every weekend"),
    ("As a carer myself, respite is impossible to get", "Respite is impossible to get"),
    ("Firstly Parents need support while their child is on the CAMHS list",
     "Parents need support while their child is on the CAMHS list"),
])
def test_who_is_speaking_and_list_markers_are_not_part_of_the_statement(clause, expected):
    assert clean_clause(clause) == expected
    assert not printable(clean_clause("Speaking as a nurse")) and not printable(clean_clause("As a nurse"))


@pytest.mark.parametrize("raw", ["The Mindsmatter group course really helped me",
                                 "Online self referral for talking therapies worked well for me",
                                 "I cant afford to heat my house and it is making my depression worse",
                                 "I have to ring up and then they won't talk to me because of data protection"])
def test_one_persons_experience_is_not_made_everyones(raw):
    """In the strategy's voice these read "… helped us", "… our depression": one person's
    experience printed as what everyone said. They are anecdotes; a first-person ask is not."""
    assert is_anecdote(raw)


@pytest.mark.parametrize("raw", ["I want more GPs", "I would like a named nurse", "Keep my local hospital open",
                                 "My GP should open on Saturdays", "I think we have to keep the A&E open"])
def test_a_first_person_ask_is_still_an_ask(raw):
    assert not is_anecdote(raw)


def test_a_long_clause_is_not_cut_inside_a_list():
    long = ("Records should be shared between the hospital, the GP and the mental health team so nobody "
            "has to repeat their story again")
    assert "Records should be shared between the hospital" not in candidate_clauses(long)
    assert candidate_clauses("Fund the crisis cafe in Barrow properly, and stop closing the walk-in centre because "
                             "people have nowhere else to go at night") == ["Fund the crisis cafe in Barrow properly"]
    # A run of steps is one point: cut after its first step it says something else.
    steps = "Our staff have to phone, then email, then fill in a different portal for each organisation"
    assert "Our staff have to phone" not in candidate_clauses(steps)
    assert "Fix the GP phones first" in candidate_clauses(
        "Fix the GP phones first, then we can talk about apps and video calls and all the rest of it")


def test_its_is_put_right_in_a_statement():
    """A user's report printed "… its a worry …"."""
    assert clean_clause("its a worry for all of us") == "It's a worry for all of us"
    assert clean_clause("Invest in prevention, its cheaper") == "Invest in prevention, it's cheaper"
    assert clean_clause("The trust and its staff") == "The trust and its staff"
    assert clean_clause("Its not fair on families") == "It's not fair on families"
    assert clean_clause("the ward and its staff are brilliant") == "The ward and its staff are brilliant"


def test_lower_case_contractions_and_frankness_are_put_right():
    assert clean_clause("To be honest ADHD assessment waiting lists for adults are over five years") == \
        "ADHD assessment waiting lists for adults are over five years"
    assert clean_clause("i'm sure the crisis line needs more staff") == "We're sure the crisis line needs more staff"
    # A fallback never names a keyword in the first person ("Concerns and ideas about staff and we'm grateful").
    assert fallback_statement(["i'm grateful", "staff", "harbour"]) == "Concerns and ideas about staff and harbour"


def test_a_name_from_keywords_is_known_as_one():
    from nlp.summarise import named_by_keywords

    assert named_by_keywords(fallback_statement(["manager", "forms"]))
    assert named_by_keywords(fallback_statement([]))
    assert not named_by_keywords("Concerns about parking at the Infirmary")


def test_a_fallback_names_things_not_adverbs_or_contractions():
    """A user test's report printed "Concerns and ideas about actually and manager" and "... about
    chase and doesn't notify"."""
    assert fallback_statement(["actually", "manager", "forms"]) == "Concerns and ideas about manager and forms"
    assert fallback_statement(["chase", "doesn't notify", "results"]) == "Concerns and ideas about chase and results"
    assert fallback_statement(["elderly", "dementia friendly"]) == "Concerns and ideas about elderly and dementia friendly"


@pytest.mark.parametrize("raw", ["Mum needs her dressings changed and the nurse visit times are never kept",
                                 "My dad can't get a carer for the mornings"])
def test_a_family_members_circumstances_are_an_anecdote(raw):
    assert is_anecdote(raw)
    assert not is_anecdote("Partner organisations need a seat at the table")


def test_a_wording_with_a_typo_gives_way_to_one_without():
    texts = ["Get people seen quicker, early help stops thigns getting to crisis point.",
             "Get people seen quicker so things don't get to crisis point.",
             "Early help stops things getting to crisis point.",
             "Quicker help early on would stop people reaching crisis.",
             "See people quicker before they reach crisis."]
    st = summarise_theme(0, theme(texts), embed(texts), ["quicker", "crisis", "early"], embed)
    assert "thigns" not in st.text


def test_a_long_sentence_is_tried_up_to_its_reason():
    assert candidate_clauses("Police end up taking people in mental health crisis to A&E because there is nothing "
                             "else open at night.") == ["Police end up taking people in mental health crisis to A&E"]


def test_a_theme_of_episodes_alone_is_named_by_its_keywords():
    """"Online self referral … worked well for me" headed a theme of episodes as "… for us", over
    members who said the opposite; a theme with nothing but episodes gets its keyword statement."""
    texts = ["Online self referral for talking therapies worked well for me.",
             "I self referred to Mindsmatter and didn't hear anything for four months.",
             "I waited eleven months for talking therapies and then got six sessions."]
    st = summarise_theme(0, theme(texts), embed(texts), ["talking therapies", "mindsmatter", "self referral"], embed)
    assert st.text == "Concerns and ideas about talking therapies and mindsmatter"


def test_a_fallback_skips_words_that_name_nothing():
    assert fallback_statement(["self", "mindsmatter", "talking therapies", "worked"]) == \
        "Concerns and ideas about mindsmatter and talking therapies"
    assert fallback_statement(["staff", "life", "harbour"]) == "Concerns and ideas about staff and harbour"


def test_an_episode_that_opens_with_a_general_point_offers_that_point():
    """AIM2's theme of praise in the 2019 sample: its members are episodes, so its one ask from the edge
    ("One veterans' champion in each GP practice") headed it; the general point an episode opens
    with ("The community nurses at Keswick are wonderful | and the little hospital did my bloods")
    is a statement of its own."""
    praise = [
        "A mum at the Maryport children's centre said the best thing had been the breastfeeding peer "
        "supporters and the baby group - she'd have been lost without it.",
        'Couple at Keswick Booths foyer praised the Keswick surgery: "always get seen the same day if it\'s '
        'urgent".',
        "Couple at the Keswick event praised the district nurses who supported their daughter to die at home.",
        'Gentleman at Maryport said the ICC team had "sorted everything out" when his wife came home from '
        'hospital - equipment, carers and a nurse visit on the same day.',
        "Gentleman at the Brampton event said the community hospital in Brampton had given him rehab after his "
        "hip operation and he was very grateful.",
        "I want to thank the heart failure nurse team for Egremont and Whitehaven.",
        "Kids have been so much better this year. Thank you",
        "Lady at the Penrith Age UK coffee morning said she was well looked after by her GP and the community "
        "nurses, and the coffee morning itself was the thing keeping her going since she was widowed.",
        "Our experience of working with the Keswick ICC has been very positive.",
        "The community nurses at Keswick are wonderful and the little hospital did my bloods and x ray. Keep it.",
        "The district nurses who came to dress my leg were kindness itself.",
        "The nurses at the Maryport health centre who do my leg dressings every week are worth their weight in "
        "gold.",
        "Veterans at the breakfast club suggested one veterans' champion in each GP practice who knows about "
        "armed forces charities and services.",
        "Woman at Cockermouth library said the Living Well coach had helped her husband get out of the house "
        "again after his stroke."]
    st = summarise_theme(0, theme(praise), embed(praise), ["keswick", "thank", "praised", "veterans"], embed)
    assert st.text == "The community nurses at Keswick are wonderful"
    assert not is_anecdote("The community nurses at Keswick are wonderful")


def test_a_quote_loses_its_list_marker_and_a_trailing_separator():
    from nlp.summarise import trim_quote
    assert trim_quote("- Cut the waiting lists for counselling") == "Cut the waiting lists for counselling"
    assert trim_quote("3) Train local young people to be nurses") == "Train local young people to be nurses"
    assert trim_quote("Staff wellbeing is a tick-box exercise.;") == "Staff wellbeing is a tick-box exercise."


def test_a_statement_is_printed_without_emoji():
    assert clean_clause("No dentist 🦷😢 for 3 yrs") == "No dentist for 3 yrs"


def test_no_quote_with_a_placeholder_even_when_a_theme_has_no_other():
    """What is left of a redacted quote can still point to someone ("[NAME]'s secretary"): the
    reports, like `engage quotes`, leave such quotes out even if a theme is left without quotes."""
    texts = ["Having to ring [NAME]'s secretary on [PHONE] to chase every result.",
             "I had to ring [NAME] at the hospital on [PHONE] to chase my scan result."]
    st = summarise_theme(0, theme(texts), embed(texts), ["chase", "result"], embed)
    assert st.quotes == []


def test_the_same_words_give_or_take_a_please_are_quoted_once():
    texts = ["Being listened to by the board.", "Being listened to by the board - please",
             "Managers who listen when staff raise concerns about the ward.",
             "Staff being heard by senior leaders would make a difference."]
    st = summarise_theme(0, theme(texts), embed(texts), ["listened", "board"], embed)
    quoted = [q["text"] for q in st.quotes]
    assert sum("listened to by the board" in q for q in quoted) == 1, quoted
    assert len(quoted) == 3


def test_quotes_after_the_first_must_back_the_statement():
    """A user's report quoted "Training time that isn't taken out of my days off" under "Laptops for
    community staff that work in rural areas": a loose theme's member that says something else."""
    texts = ["Laptops for community staff that work in rural areas with no signal.",
             "Give the district nurses tablets that work offline in the hills.",
             "Training time that isn't taken out of my days off."]
    emb = embed(texts)
    centroid = emb.mean(axis=0) / np.linalg.norm(emb.mean(axis=0))
    statement = embed([texts[0]])[0]
    chosen = select_quotes(texts, emb, centroid, ["a", "b", "c"], n=3, statement=statement)
    assert chosen == [0, 1]  # not "Training time …": cosine 0.11 to the statement


def test_the_same_answer_typed_with_slips_is_quoted_once():
    texts = ["Parking at the hospital is expensive and there is never a space.",
             "parking at the hospital is expensive and theer is never a space",
             "parking at the hospitl is expensive and there is nveer a space",
             "Free parking for patients who come every week for treatment.",
             "The car park at the Infirmary is full by nine in the morning."]
    st = summarise_theme(0, theme(texts), embed(texts), ["parking", "hospital"], embed)
    quoted = [q["text"].casefold() for q in st.quotes]
    assert sum("expensive" in q for q in quoted) == 1, quoted


def test_statement_agreement_counts_people_close_to_the_statement():
    from nlp.summarise import is_mixed, statement_agreement

    statement = np.array([1.0, 0.0])
    emb = np.array([[0.9, 0.436], [0.95, 0.312], [0.1, 0.995], [0.0, 1.0]])
    # Two sentences of one person close to it count once; of three people, one is close.
    assert statement_agreement(statement, emb, ["ann", "ann", "bob", "cy"]) == pytest.approx(1 / 3)
    assert statement_agreement(statement, emb[:0], []) == 0.0
    assert is_mixed("Stop moving us around to plug gaps", 0.05)
    assert not is_mixed("Stop moving us around to plug gaps", 0.5)
    assert not is_mixed("Stop moving us around to plug gaps", None)  # a report from before agreement was kept
    assert not is_mixed("Concerns and ideas about rotas and parking", 0.0)  # already named by its keywords


@pytest.mark.parametrize("shouted, printed", [
    ("Carers like me need A break", "Carers like me need a break"),
    ("BUILD affordable homes for LOCAL people", "Build affordable homes for local people"),
    ("TRAIN local young people", "Train local young people"),
    ("A&E at WCH is a disgrace", "A&E at WCH is a disgrace"),  # acronyms stay
    ("Listen to the SEND forum and follow NICE guidance", "Listen to the SEND forum and follow NICE guidance"),
    ("More NHS dentists in Kendal", "More NHS dentists in Kendal"),
    ("The IT systems crash daily", "The IT systems crash daily"),  # user test 5 printed "The it systems"
    ("IT IS A DISGRACE", "It is a disgrace")])
def test_shouted_words_are_printed_in_lower_case(shouted, printed):
    """User test 3 printed "Carers like me need A break" and "BUILD affordable homes"."""
    assert fix_casing(shouted) == printed


@pytest.mark.parametrize("keywords, name", [
    (["didnt", "nearly", "talking"], "Concerns and ideas about talking"),
    (["yrs", "seen", "parking"], "Concerns and ideas about parking"),
    (["used", "patch"], "Concerns and ideas about patch"),
    (["bereavement", "died"], "Concerns and ideas about bereavement"),
    (["camhs", "waits"], "Concerns and ideas about camhs and waits")])  # words no dictionary knows can name
def test_a_fallback_names_nouns_not_verb_forms_or_text_speak(keywords, name):
    """User test 3 printed "Concerns and ideas about didnt and nearly" and "… about yrs and seen"."""
    assert fallback_statement(keywords) == name


def test_views_differ_when_both_sides_are_a_real_share():
    from nlp.summarise import views_differ

    assert views_differ({"negative": 12, "neutral": 5, "positive": 4})
    assert not views_differ({"negative": 2, "neutral": 14, "positive": 2})  # a few words of praise and complaint
    assert not views_differ({"negative": 4, "neutral": 34, "positive": 9})  # 4 of 47
    assert not views_differ({"negative": 2, "positive": 2}) and not views_differ({}) and not views_differ(None)


@pytest.mark.parametrize("answer, clauses", [
    ("Overall I think services are good but carers like me need a break", ["Carers like us need a break"]),
    ("The community mental health team is brilliant but they are so stretched",
     ["The community mental health team is brilliant but they are so stretched"])])  # no ask of its own after "but"
def test_praise_before_an_ask_is_not_put_in_everyone_s_mouth(answer, clauses):
    """User tests 3 and 4: "Services are good but carers like us need a break" headed 40 people."""
    assert candidate_clauses(answer) == clauses


def test_what_is_conceded_before_but_is_not_the_point():
    """User test 5 printed "Online GP forms are fine if you have broadband" from "…, but half the valley doesn't"."""
    assert candidate_clauses("Online GP forms are fine if you have broadband, but half the valley doesn't.") == []
    assert candidate_clauses("More buses to the hospital, but the drivers need training too") == [
        "More buses to the hospital", "The drivers need training too"]  # an ask before "but" still stands


def test_a_quote_in_capitals_comes_after_a_calm_one_on_the_same_point():
    """A user test found an all-capitals rant printed as a theme's first quote; it is held back
    behind a calm quote on the same point, and still quoted when nothing else backs the statement."""
    from nlp.summarise import shouted

    assert shouted("WHY CANT I GET A GP APPOINTMENT ITS A JOKE")
    assert not shouted("We need more NHS dentists and CAMHS in West Cumbria")
    assert not shouted("GP NOW")  # too short to tell
    texts = ["MORE GP APPOINTMENTS IN MARYPORT, WE ARE SICK OF WAITING!!!",
             "Maryport needs more appointments at the GP surgery.",
             "Getting a GP appointment in Maryport takes three weeks."]
    emb = embed(texts)
    statement = embed(["More GP appointments in Maryport"])[0]
    chosen = select_quotes(texts, emb, centre(emb), ["a", "b", "c"], n=3, statement=statement)
    assert chosen == [1, 2, 0], chosen  # first without the penalty: the closest to the statement
    alone = select_quotes(texts[:1], emb[:1], emb[0], ["a"], n=3, statement=statement)
    assert alone == [0]


def test_a_statement_is_printed_as_a_member_spelt_it_right():
    """User test 6 printed "Kids need mor esport at school not less" and "… they do thei rbest" while
    their groups held the same words spelt right."""
    from nlp.summarise import statement_candidates

    segs = ["Kids need mor esport at school not less"] * 4 + ["kids need more sport at school not less",
                                                            "PE lessons keep getting cut for exam revision"]
    emb = embed(segs)
    first = statement_candidates(segs, emb, centre(emb), ["sport", "school"], embed)[0].text
    assert first == "Kids need more sport at school not less"
    # User test 7: "si" is a word too, so the spelling most members typed wins; a misspelt first word.
    for segs, want in ((["LONG COVID CLINIC WAS SHUT AND NOW THERE SI NOTHING",
                         "LONG COVID CLINIC WAS SHUT AND NOW THERE IS NOTHING", "long covid clinic was shut and now "
                         "there is nothing"], "Long COVID clinic was shut and now there is nothing"),
                       (["Befrineding phone calls for the housebound"] * 2 + ["befriending phone calls for the housebound",
                                                                           "Lunch clubs for older people"],
                        "Befriending phone calls for the housebound")):
        emb = embed(segs)
        assert statement_candidates(segs, emb, centre(emb), ["clinic"], embed)[0].text.casefold() == want.casefold()


@pytest.mark.parametrize("text, cleaned", [
    ("Want to say the staff at the surgery are wonderful", "The staff at the surgery are wonderful"),
    ("I just want to say the nurses are brilliant", "The nurses are brilliant"),
    ("We wanted to add that the bus is always late", "The bus is always late"),
    ("I would like more buses to Alston", "More buses to Alston")])
def test_wanting_to_say_is_no_part_of_what_is_said(text, cleaned):
    assert clean_clause(text) == cleaned


@pytest.mark.parametrize("clause, episode", [
    ("self harmed on the ward while on 15 minute obs", True),  # user test 7: 21 people "said" it
    ("Discharged at 10pm with nothing in place", True),
    ("Waited for 6 hours in A&E", True),
    ("Improved access to GPs in the evening", False),
    ("Focused on prevention rather than cure", False),
    ("Asked before decisions are made, not after", False),
    ("Need to be seen sooner", False)])
def test_an_episode_whose_subject_was_cut_off_is_still_an_episode(clause, episode):
    assert is_anecdote(clause) == episode

"""Forms in `bitbucket-chatops shell --sandbox` (#13): Slack gives every interaction its own trigger_id and
opens one form per trigger_id, so the shell must send a new one each time, or the second form fails."""

from tests.shellkit import Click, run

FORM_QUESTIONS = 4  # the "Open a pull request" form: source, destination, title, description


def test_a_second_form_in_one_session_opens_too(tmp_path):
    blanks = [""] * FORM_QUESTIONS  # the shell asks the form's questions; blank answers leave them empty
    session = run(tmp_path, "/bb pr api", *blanks, "/bb pr api", *blanks)
    for occurrence in (0, 1):
        answer = session.answer_to("/bb pr api", occurrence)
        assert "== Open a pull request ==" in answer
        assert ":boom:" not in answer, answer
    assert ":boom:" not in session.transcript


def test_merge_anyway_opens_its_form_each_time_it_is_clicked(tmp_path):
    # acme/web #2 has a red build: merging it asks first, and "Merge anyway…" opens a form asking for a reason.
    session = run(tmp_path, "/bb merge web 2", Click("Merge anyway…"), "", Click("Merge anyway…"), "")
    clicks = [session.answer(n) for n, (line, _) in enumerate(session.typed, 1) if line.isdigit()]
    assert len(clicks) == 2
    for answer in clicks:
        assert "== Merge anyway ==" in answer and ":boom:" not in answer, answer
    assert ":boom:" not in session.transcript

"""The labelling web page: its JSON API over HTTP, and the real page driven in headless Chromium."""

import http.client
import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from hfpipeline.commands import label as label_cmd
from hfpipeline.errors import UserError
from hfpipeline.feedback import server as label_server

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def batch_path(tmp_path):
    path = tmp_path / "batch.jsonl"
    prompts = ["Explain why the sky is blue.", "Write a haiku about autumn.", "What is 17 * 3?"]
    responses = [
        [
            "Sunlight scatters off air molecules; blue light scatters most (Rayleigh scattering).",
            "Because the ocean reflects onto it.",
            "The sky is blue. I don't know why.",
        ],
        [
            "Red leaves drift and fall\nquiet paths of amber light\nthe year exhales slow",
            "Autumn is a season.",
            "Leaves fall down, it is cold, the end of summer is here now and I like soup.",
        ],
        ["17 * 3 = 51.", "17 * 3 = 41.", "It's 51, since 17 * 3 = 10 * 3 + 7 * 3 = 30 + 21."],
    ]
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"q{i}",
                    "prompt": p,
                    "responses": r,
                    "model": "tiny-sft",
                    "sampling": {"temperature": 1.0, "top_p": 0.95},
                }
            )
            + "\n"
            for i, (p, r) in enumerate(zip(prompts, responses))
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def server(batch_path):
    srv = label_server.make_server(batch_path, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def request(srv, method, path, body=None, headers=None):
    """(status, parsed JSON or text) for one HTTP request to the test server."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if payload is not None else {}
    conn.request(method, path, body=payload, headers={**hdrs, **(headers or {})})
    resp = conn.getresponse()
    data = resp.read().decode("utf-8")
    conn.close()
    is_json = resp.getheader("Content-Type", "").startswith("application/json")
    return resp.status, json.loads(data) if is_json else data


def labels_file(batch_path):
    return batch_path.with_name("batch.labels.jsonl")


def test_api_state_save_and_item(server, batch_path):
    status, state = request(server, "GET", "/api/state")
    assert status == 200
    assert (state["total"], state["done"], state["finished"]) == (3, 0, False)
    assert state["item"]["id"] == "q0" and state["item"]["n"] == 1 and len(state["item"]["responses"]) == 3
    assert [t["name"] for t in state["tags"]] == ["inappropriate", "irrelevant", "inaccurate"]

    status, reply = request(
        server, "POST", "/api/label", {"id": "q0", "ranking": [0, 2, 1], "tags": {"1": ["inaccurate"]}, "comment": ""}
    )
    assert status == 200 and reply["saved"]["ranking"] == [0, 2, 1]
    assert reply["state"]["done"] == 1 and reply["state"]["item"]["id"] == "q1"

    status, item = request(server, "GET", "/api/item/q0")
    assert status == 200 and item["label"]["tags"] == {"1": ["inaccurate"]} and item["n"] == 1
    assert request(server, "GET", "/api/item/missing")[0] == 404
    assert request(server, "GET", "/nothing-here")[0] == 404
    status, page = request(server, "GET", "/")
    assert status == 200 and '<ol id="cards"' in page and "http" not in page.split("<script>")[0].lower()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"id": "q0", "ranking": [0, 0, 1]}, "not a permutation"),
        ({"id": "q9", "ranking": [0, 1, 2]}, "unknown id 'q9'"),
        ({"id": "q0", "ranking": [0, 1, 2], "tags": {"0": ["spam"]}}, "tag 'spam' is not one of"),
        ({"id": "q0", "ranking": [0, 1, 2], "tags": {"5": ["irrelevant"]}}, "tags key '5'"),
        (b"{not json", "not valid JSON"),
        ([0, 1, 2], "must be a JSON object"),
    ],
)
def test_api_rejects_malformed_label_and_keeps_file(server, batch_path, body, fragment):
    assert request(server, "POST", "/api/label", {"id": "q1", "ranking": [2, 1, 0]})[0] == 200
    before = labels_file(batch_path).read_bytes()
    status, reply = request(server, "POST", "/api/label", body)
    assert status == 400 and fragment in reply["error"]
    assert labels_file(batch_path).read_bytes() == before


def test_api_refuses_cross_site_requests(server, batch_path):
    label = json.dumps({"id": "q0", "ranking": [0, 1, 2]}).encode()
    assert request(server, "POST", "/api/label", label, {"Content-Type": "text/plain"})[0] == 415
    assert request(server, "GET", "/api/state", headers={"Host": "evil.example:80"})[0] == 403
    assert not labels_file(batch_path).exists()


def test_bad_labels_file_fails_at_start(batch_path):
    labels_file(batch_path).write_text('{"id": "q0", "ranking": [0, 1]}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"batch\.labels\.jsonl:1: .*not a permutation"):
        label_server.make_server(batch_path, "127.0.0.1", 0)


def test_label_command_arguments(tmp_path):
    assert label_cmd.parse_tags(None) == ("inappropriate", "irrelevant", "inaccurate")
    assert label_cmd.parse_tags(" toxic, off_topic,toxic ") == ("toxic", "off_topic")
    with pytest.raises(UserError, match="--tags: 'bad tag'"):
        label_cmd.parse_tags("bad tag")
    args = SimpleNamespace(batch=str(tmp_path / "none.jsonl"), host="127.0.0.1", port=0, tags=None)
    with pytest.raises(UserError, match="none.jsonl: no such batch file"):
        label_cmd.label_command(args)


# ---- the real page in headless Chromium -------------------------------------------------------------------


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        missing = "/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):  # .ci/run installs the browser: in CI this test runs, never skips
            pytest.fail(missing)
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def wait_for(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 10).until(lambda d: condition(), message=f"timed out waiting for {what}")


def card_order(driver):
    return [int(c.get_attribute("data-index")) for c in driver.find_elements("css selector", "#cards > li")]


def card(driver, index):
    return driver.find_element("css selector", f"#cards > li[data-index='{index}']")


def progress(driver):
    return driver.find_element("id", "progress").text


def test_labeller_ranks_tags_saves_and_resumes(server, batch_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    url = label_server.server_url(server)
    browser.get(url)
    wait_for(browser, lambda: progress(browser) == "Item 1 of 3 · 0 of 3 labelled", "first item")
    assert browser.find_element("id", "prompt").text == "Explain why the sky is blue."
    assert card_order(browser) == [0, 1, 2]

    # Keyboard: focus Response C and move it to the top with Alt+ArrowUp twice.
    card(browser, 2).click()
    ActionChains(browser).key_down(Keys.ALT).send_keys(Keys.ARROW_UP).send_keys(Keys.ARROW_UP).key_up(
        Keys.ALT
    ).perform()
    assert card_order(browser) == [2, 0, 1]
    assert browser.switch_to.active_element == card(browser, 2)
    # Buttons: move Response A down one.
    card(browser, 0).find_element("css selector", "button.down").click()
    assert card_order(browser) == [2, 1, 0]
    assert [r.text for r in browser.find_elements("css selector", "#cards .rank")] == ["1", "2", "3"]
    card(browser, 0).find_element("css selector", "input[value='irrelevant']").click()
    browser.find_element("id", "comment").send_keys("first")
    browser.find_element("id", "save").click()
    wait_for(browser, lambda: progress(browser) == "Item 2 of 3 · 1 of 3 labelled", "second item")
    assert card_order(browser) == [0, 1, 2] and browser.find_element("id", "comment").get_attribute("value") == ""

    # Mouse drag: drag Response C by its header above Response A (pointer events, not HTML5 drag and drop).
    head, top = card(browser, 2).find_element("css selector", ".name"), card(browser, 0)
    ActionChains(browser).click_and_hold(head).move_by_offset(0, -20).move_to_element_with_offset(
        top, 0, -top.size["height"] // 2 + 4
    ).pause(0.1).release().perform()
    assert card_order(browser) == [2, 0, 1]
    # Number key: focused card jumps to that rank.
    card(browser, 1).send_keys("2")
    assert card_order(browser) == [2, 1, 0]
    browser.find_element("id", "save").click()
    wait_for(browser, lambda: progress(browser) == "Item 3 of 3 · 2 of 3 labelled", "third item")

    browser.refresh()
    wait_for(browser, lambda: progress(browser) == "Item 3 of 3 · 2 of 3 labelled", "progress kept after reload")
    assert browser.find_element("id", "prompt").text == "What is 17 * 3?"
    rows = [json.loads(line) for line in labels_file(batch_path).read_text().splitlines()]
    assert [(r["id"], r["ranking"], r["tags"], r["comment"]) for r in rows] == [
        ("q0", [2, 1, 0], {"0": ["irrelevant"]}, "first"),
        ("q1", [2, 1, 0], {}, ""),
    ]

    # Screenshot of a labelled-looking item for the docs.
    card(browser, 2).find_element("css selector", "button.up").click()
    card(browser, 1).find_element("css selector", "input[value='inaccurate']").click()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.find_element("tag name", "h1").click()
    browser.save_screenshot(str(ARTIFACTS / "label-page.png"))

    # A malformed submission is refused by the server (400) and the file is untouched.
    before = labels_file(batch_path).read_bytes()
    status, reply = request(server, "POST", "/api/label", {"id": "q2", "ranking": [0, 1, 1]})
    assert status == 400 and "not a permutation" in reply["error"]
    # ... and the page shows server errors: drop a card so the ranking is incomplete, then save.
    browser.execute_script("document.querySelector('#cards > li').remove()")
    browser.find_element("id", "save").click()
    error = browser.find_element("id", "error")
    wait_for(browser, lambda: error.is_displayed(), "visible error")
    assert error.text.startswith("Not saved: ") and "not a permutation of 0..2" in error.text
    assert labels_file(batch_path).read_bytes() == before

    browser.refresh()
    wait_for(browser, lambda: progress(browser) == "Item 3 of 3 · 2 of 3 labelled", "third item again")
    assert not browser.find_element("id", "error").is_displayed()
    browser.find_element("id", "save").click()
    wait_for(browser, lambda: browser.find_element("id", "finished").is_displayed(), "finished message")
    assert "Batch finished" in browser.find_element("id", "finished").text
    assert progress(browser) == "3 of 3 labelled"
    assert not browser.find_element("id", "task").is_displayed()
    assert len(labels_file(batch_path).read_text().splitlines()) == 3


def test_relabel_link_prefills_saved_label(server, batch_path, browser):
    request(
        server,
        "POST",
        "/api/label",
        {"id": "q1", "ranking": [1, 2, 0], "tags": {"2": ["inappropriate"]}, "comment": "meh"},
    )
    browser.get(label_server.server_url(server) + "#item=q1")
    wait_for(browser, lambda: progress(browser) == "Item 2 of 3 · 1 of 3 labelled", "re-label view")
    assert card_order(browser) == [1, 2, 0]
    assert card(browser, 2).find_element("css selector", "input[value='inappropriate']").is_selected()
    assert browser.find_element("id", "comment").get_attribute("value") == "meh"
    card(browser, 0).find_element("css selector", "button.up").click()
    browser.find_element("id", "save").click()
    wait_for(browser, lambda: progress(browser) == "Item 1 of 3 · 1 of 3 labelled", "back to first unlabelled")
    rows = [json.loads(line) for line in labels_file(batch_path).read_text().splitlines()]
    assert [r["ranking"] for r in rows] == [[1, 2, 0], [1, 0, 2]]
    # If the server goes away, the page says so instead of failing silently.
    server.shutdown()
    server.server_close()
    browser.find_element("id", "save").click()
    wait_for(browser, lambda: browser.find_element("id", "error").is_displayed(), "unreachable-server error")
    assert "Cannot reach the labelling server" in browser.find_element("id", "error").text

"""The console as a person uses it, in a real Chromium: sign in, see the
Actors, follow a run live, abort one from its page."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import TOKEN, api


def wait(browser, seconds=20):
    return WebDriverWait(browser, seconds)


def sign_in(browser, server, token=TOKEN):
    browser.get(f"{server}/")
    wait(browser).until(EC.url_contains("/sign-in"))
    field = browser.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()


def test_a_wrong_token_is_told_and_the_right_one_shows_the_actors(browser, server):
    sign_in(browser, server, "not-the-token")
    assert wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))).text == "That token is not valid."
    assert "/sign-in" in browser.current_url
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "token").submit()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "view"), "me/hello"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Actors"
    assert browser.get_cookie("wactor_session")["httpOnly"] is True
    assert browser.execute_script("return document.cookie") == "", "the session cookie is out of the page's reach"


def test_a_run_is_followed_live_and_aborted_from_its_page(browser, server):
    sign_in(browser, server)
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "view"), "me/hello"))

    done = api(server, "POST", "/acts/hello/runs?waitForFinish=30", {"name": "Console"})
    browser.get(f"{server}/#/runs")
    link = wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"a[href='#/runs/{done['id']}']")))
    assert "SUCCEEDED" in browser.find_element(By.ID, "view").text
    link.click()
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "pre.log"), "Hello, Console!"))
    page = browser.find_element(By.ID, "view").text
    assert "SUCCEEDED" in page and done["defaultDatasetId"] in page, page
    assert browser.find_element(By.CSS_SELECTOR, ".fields dt").text == "Started"
    assert "[object" not in page, page

    # A long run: its page shows it running, then the Abort button ends it; no reload in between.
    long = api(server, "POST", "/acts/long-job/runs", {"steps": 600, "stepMillis": 100})
    browser.get(f"{server}/#/runs/{long['id']}")
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".status"), "RUNNING"))
    marker = browser.execute_script("window.__notReloaded = true; return true")
    browser.find_element(By.XPATH, "//button[text()='Abort']").click()
    wait(browser, 60).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".status"), "ABORTED"))
    assert marker and browser.execute_script("return window.__notReloaded === true"), "the page updated without a reload"
    assert api(server, "GET", f"/actor-runs/{long['id']}")["status"] == "ABORTED"

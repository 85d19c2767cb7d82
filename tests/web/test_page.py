"""The web page in a real browser: Debian's chromium, headless, driven by Selenium through
the system chromedriver (installed by Helper_Scripts/bootstrap.sh).

Uploads a speech file and downloads its SRT, uploads a stereo call with the channels as
speakers, role names and emotion labels, runs live captions from Chromium's fake
microphone fed with a speech WAV, and follows a job to the end. Screenshots go to
``$STT_TEST_ARTIFACTS`` (default ``tests/artifacts/``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from app.core.config import load_settings
from tests.support.audio import speech, wer
from tests.support.multichannel import multichannel_wav
from tests.support.server import running_server

pytestmark = pytest.mark.model

UPLOAD = "Please remember to bring your umbrella tomorrow morning."
AGENT = "Thank you for calling the support line, how can I help you today?"
CUSTOMER = "My internet connection stopped working this morning."
LIVE = "My sister likes to read books in the garden. Our team will meet at the station."
KEY = "sk-web-page-test-key"
ARTIFACTS = Path(os.environ.get("STT_TEST_ARTIFACTS", "tests/artifacts"))
T = TypeVar("T")


def until(check: Callable[[], T | None], timeout: float = 30.0, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    mic = speech(LIVE, gap_ms=1200, rate=48_000)
    options = webdriver.ChromeOptions()
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "install chromium and chromium-driver (bootstrap.sh)"
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic}%noloop",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"web-{name}.png"))


def text_of(driver: WebDriver, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def open_page(driver: WebDriver, base: str) -> None:
    driver.get(base + "/")
    until(lambda: driver.find_elements(By.CSS_SELECTOR, "#model option"))


def test_upload_shows_a_playable_transcript_and_downloads_srt(
    browser: WebDriver, model_server: str, downloads: Path
) -> None:
    open_page(browser, model_server)
    browser.find_element(By.ID, "file").send_keys(str(speech(UPLOAD)))
    browser.find_element(By.ID, "transcribe").click()
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "#segments li button"))
    transcript = text_of(browser, "#segments li button")
    assert wer(UPLOAD, " ".join(w for w in transcript.split() if ":" not in w)) <= 0.15
    assert "0:00" in transcript  # each segment shows its start time
    first = browser.find_element(By.CSS_SELECTOR, "#segments li button")
    first.click()  # jump the player to the segment
    assert browser.execute_script("return document.getElementById('player').src").startswith(
        "blob:"
    )
    shot(browser, "transcript")

    browser.find_element(By.CSS_SELECTOR, "#format option[value=srt]").click()
    browser.find_element(By.ID, "download").click()
    srt = until(lambda: next(iter(downloads.glob("*.srt")), None))
    body = until(lambda: srt.read_text())
    assert body.startswith("1\n00:00:0") and " --> " in body
    assert "umbrella" in body.lower()


def test_stereo_call_with_channels_roles_and_emotion(
    browser: WebDriver, tmp_path: Path, tiny_emotion_dir: Path
) -> None:
    """The Transcribe panel's options reach the gateway: each channel of a stereo call is a
    speaker named by its role, each segment shows its emotion label; a role list on a mono file
    without speakers is the gateway's 400, shown in the error bar."""
    call = tmp_path / "call.wav"
    multichannel_wav(
        call,
        [[(0.0, speech(AGENT, voice="en-us"))], [(4.0, speech(CUSTOMER, voice="en-us+f4"))]],
    )
    settings = load_settings(
        _env_file=None, data_dir=tmp_path / "data", emotion_model=str(tiny_emotion_dir)
    )
    with running_server(settings) as base:
        open_page(browser, base)
        browser.find_element(By.ID, "file").send_keys(str(call))
        browser.find_element(By.ID, "multichannel").click()
        browser.find_element(By.ID, "roles").send_keys("agent,customer")
        browser.find_element(By.ID, "emotion").click()
        browser.find_element(By.ID, "transcribe").click()
        until(lambda: browser.find_elements(By.CSS_SELECTOR, "#segments li .emotion"), 60)
        said: dict[str, list[str]] = {}
        for button in browser.find_elements(By.CSS_SELECTOR, "#segments li button"):
            speaker = button.find_element(By.CSS_SELECTOR, ".speaker").text
            emotion = button.find_element(By.CSS_SELECTOR, ".emotion").text
            assert emotion.endswith("%"), emotion  # "neutral 31%": label and score
            text = button.text.removesuffix(emotion).split(speaker, 1)[1]
            said.setdefault(speaker, []).append(text)
        assert set(said) == {"agent", "customer"}, said
        assert wer(AGENT, " ".join(said["agent"])) <= 0.25, said
        assert wer(CUSTOMER, " ".join(said["customer"])) <= 0.25, said
        shot(browser, "call")

        open_page(browser, base)
        browser.find_element(By.ID, "file").send_keys(str(speech(UPLOAD)))
        browser.find_element(By.ID, "roles").send_keys("agent,customer")
        browser.find_element(By.ID, "transcribe").click()
        until(lambda: "speaker_roles needs speakers" in browser.find_element(By.ID, "error").text)


def test_live_captions_from_the_fake_microphone(browser: WebDriver, model_server: str) -> None:
    open_page(browser, model_server)
    browser.find_element(By.ID, "tab-live").click()
    browser.execute_script(
        """window.partials = [];
        new MutationObserver(() => window.partials.push(
            document.getElementById('partial').textContent.trim())
        ).observe(document.getElementById('partial'), {subtree: true, childList: true,
                                                       characterData: true});"""
    )
    browser.find_element(By.ID, "live-start").click()
    until(lambda: "sister" in text_of(browser, "#finals").lower(), timeout=40)
    shot(browser, "live")
    until(lambda: "station" in text_of(browser, "#finals").lower(), timeout=40)
    pause = browser.find_element(By.ID, "live-pause")
    pause.click()  # the clip has ended: pause and resume over the fake microphone's silence
    assert browser.find_element(By.ID, "live-state").text == "paused"
    assert pause.text == "Resume"
    pause.click()
    assert browser.find_element(By.ID, "live-state").text == "listening"
    browser.find_element(By.ID, "live-stop").click()
    until(lambda: browser.find_element(By.ID, "live-state").text in ("stopped", "idle"))
    finals = text_of(browser, "#finals .final")
    assert wer(LIVE, finals) <= 0.2, finals
    partials: list[Any] = browser.execute_script("return window.partials")
    assert any("sister" in p.lower() for p in partials), partials  # words showed up as partials
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None


def test_job_progress_reaches_done(browser: WebDriver, model_server: str) -> None:
    """One job followed through the job events stream, one by polling alone."""
    open_page(browser, model_server)
    browser.find_element(By.ID, "tab-jobs").click()
    for polling in (False, True):
        if polling:
            browser.execute_script("window.EventSource = undefined")
        browser.find_element(By.ID, "job-file").send_keys(str(speech(UPLOAD)))
        browser.find_element(By.CSS_SELECTOR, "#job-form button[type=submit]").click()
        until(lambda n=polling: len(browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) > n)
    done = until(
        lambda: (
            all(
                s.text in ("succeeded", "failed")
                for s in browser.find_elements(By.CSS_SELECTOR, "#jobs .status")
            )
            and [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#jobs .status")]
        ),
        timeout=60,
    )
    assert done == ["succeeded", "succeeded"]
    bars = browser.find_elements(By.CSS_SELECTOR, "#jobs progress")
    assert [b.get_attribute("value") for b in bars] == ["1", "1"]
    shot(browser, "jobs")
    browser.find_element(By.CSS_SELECTOR, "#jobs tbody tr button").click()
    until(lambda: "umbrella" in text_of(browser, "#segments").lower())


def test_phone_width_and_keyboard(browser: WebDriver, model_server: str) -> None:
    browser.set_window_size(390, 844)
    try:
        open_page(browser, model_server)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # nothing forces sideways scrolling
        tab = browser.find_element(By.ID, "tab-transcribe")
        tab.click()
        tab.send_keys(Keys.ARROW_RIGHT)
        assert browser.switch_to.active_element.get_attribute("id") == "tab-live"
        assert browser.find_element(By.ID, "panel-live").is_displayed()
        shot(browser, "phone")
    finally:
        browser.set_window_size(1100, 900)


def test_api_key_field_and_gateway_errors(browser: WebDriver, tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, data_dir=tmp_path / "data", auth_mode="api_key", api_key=KEY
    )
    with running_server(settings) as base:
        browser.get(base + "/")
        until(lambda: "API key required" in browser.find_element(By.ID, "auth-state").text)
        assert "incorrect API key" in browser.find_element(By.ID, "error").text or (
            "missing credentials" in browser.find_element(By.ID, "error").text
        )
        browser.find_element(By.ID, "api-key").send_keys(KEY)
        browser.find_element(By.CSS_SELECTOR, "#settings button").click()
        until(lambda: browser.find_elements(By.CSS_SELECTOR, "#model option"))
        assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
        stored = browser.execute_script("return sessionStorage.getItem('stt-api-key')")
        assert stored == KEY
        # live captions authenticate with the key as the socket's first message
        browser.find_element(By.ID, "tab-live").click()
        browser.find_element(By.ID, "live-start").click()
        until(lambda: browser.find_element(By.ID, "live-state").text == "listening")
        browser.find_element(By.ID, "live-stop").click()
        until(lambda: browser.find_element(By.ID, "live-state").text in ("stopped", "idle"))
        assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
        browser.execute_script("sessionStorage.clear()")

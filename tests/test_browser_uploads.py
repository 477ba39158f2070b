"""A user's own video in a real browser: upload without a skeleton, estimate the pose from the
sidebar, inspect it with a pose-driven model; noise is said to be none of the known classes.

Uses the server, browser and helpers of test_browser.py (Chromium through Playwright).
"""

from __future__ import annotations

import numpy as np
from test_browser import SHOTS, app_server, app_url, browser, no_exception, pytestmark, settle  # noqa: F401

from core_models.data.video import write_video
from core_models.synth import render_clip


def test_a_video_without_skeleton_gets_its_pose_estimated_and_read(browser, app_url, tmp_path):  # noqa: F811
    frames = render_clip("S001C002P003R001A001", size=(240, 320)).frames
    frames[0, :8, :8] = np.random.default_rng().integers(0, 255, 3)  # a new upload: no cached pose yet
    video = write_video(tmp_path / "my_drink.avi", frames, 30)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="networkidle")
    page.wait_for_selector("h1:has-text('Drink water')", timeout=90_000)
    settle(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Upload", exact=True).click()
    settle(page)
    sidebar.locator("[data-testid=stFileUploaderDropzoneInput]").nth(0).set_input_files(str(video))
    page.wait_for_selector("h1:has-text('my_drink')", timeout=90_000)
    settle(page)
    page.get_by_text("Models that can:").first.wait_for(timeout=30_000)  # the default model needs a pose
    sidebar.get_by_role("button", name="Estimate pose").click()
    page.get_by_text("Skeleton estimated by BlazePose").first.wait_for(timeout=120_000)
    page.get_by_text("Groundtruth: unknown - Prediction:").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    page.screenshot(path=str(SHOTS / "upload-pose.png"))
    page.close()


def test_noise_is_none_of_the_classes_the_model_knows(browser, app_url, tmp_path):  # noqa: F811
    frames = np.random.default_rng(0).integers(0, 255, (30, 120, 160, 3), dtype=np.uint8)
    video = write_video(tmp_path / "static.avi", frames, 30)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="networkidle")
    page.wait_for_selector("h1:has-text('Drink water')", timeout=90_000)
    settle(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Upload", exact=True).click()
    settle(page)
    sidebar.locator("[data-testid=stFileUploaderDropzoneInput]").nth(0).set_input_files(str(video))
    page.wait_for_selector("h1:has-text('static')", timeout=90_000)
    settle(page)
    box = sidebar.locator("[data-testid=stSelectbox] input").last  # the model
    box.click()
    box.fill("i3d-cs")  # a whole-frame model that learnt its classes
    page.keyboard.press("Enter")
    page.get_by_text("None of the classes this model knows").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    page.screenshot(path=str(SHOTS / "upload-ood.png"))
    page.close()

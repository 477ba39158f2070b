"""The upload flow: a video (and an optional skeleton), a window of a long video, pose estimation.

* The files are vetted before anything is written (:func:`~app_support.sources.save_upload`).
* A video longer than :data:`LONG_SECONDS` gets a window (start and length, in seconds) chosen
  from its header *before* anything is decoded; frames are shrunk as they are decoded.
* The clip is loaded at once, so a file that decodes to nothing usable is refused here and the
  previous clip stays; what decoding found (damage, missing or blank frames) is shown with it.
* A video without a skeleton is offered BlazePose's estimate (offline), its cost said first, a
  progress bar while it runs; the estimate is cached beside the video per window, so the same
  upload never pays twice. The clip page offers the same button when its model needs a pose.
"""

from __future__ import annotations

import streamlit as st

from app_support import state
from app_support.sources import cached_pose, estimate_pose, save_upload
from core_models.data.single import SINGLE_VIDEO_EXTENSIONS, SKELETON_EXTENSIONS
from core_models.data.video import video_info
from core_models.pose.estimate import POSE_FRAMES_PER_SECOND, POSE_SETUP_SECONDS

LONG_SECONDS = 30.0  # longer uploads get a window
DEFAULT_WINDOW_SECONDS = 30.0


def choose_window(seconds: float, fps: float) -> tuple[int, int | None]:
    """Start and length (frames) of a long video's window; ``(0, None)`` (all of it) for a short one."""
    if seconds <= LONG_SECONDS:
        return 0, None
    st.caption(f"This video lasts {seconds:.0f} s: choose the part to inspect (decoded alone).")
    start = st.slider("Start (s)", 0.0, max(0.0, seconds - 1.0), 0.0, step=0.5, key="upload_start")
    longest = max(1.0, min(60.0, seconds - start))
    length = st.slider(
        "Length (s)", 1.0, longest, min(DEFAULT_WINDOW_SECONDS, longest), step=0.5, key="upload_length"
    )
    return int(round(start * fps)), max(1, int(round(length * fps)))


def pose_panel(source: dict, num_frames: int, key: str) -> bool:
    """Offer BlazePose on an upload without a skeleton: its cost first, a progress bar while it runs.

    Returns True when an estimate was made now (the caller reruns to use it).
    """
    seconds = POSE_SETUP_SECONDS + num_frames / POSE_FRAMES_PER_SECOND
    st.caption(
        f"No skeleton: models that read one cannot use this clip. Estimating the pose (BlazePose, "
        f"offline) takes about {seconds:.0f} s for its {num_frames} frames on this machine."
    )
    if not st.button("Estimate pose", key=f"{key}_estimate_pose", icon=":material/accessibility_new:"):
        return False
    bar = st.progress(0.0, text="Estimating the pose…")

    def progress(done: int, total: int) -> None:
        total = total or num_frames
        bar.progress(min(done / max(total, 1), 1.0), text=f"Estimating the pose… frame {done} of {total}")

    try:
        stats = estimate_pose(source, num_frames, progress)
    except state.LOAD_ERRORS as err:
        bar.empty()
        st.error(f"Pose estimation failed: {err}")
        return False
    bar.empty()
    st.success(f"A person in {stats['detected']} of {stats['frames']} frames ({stats['seconds']:.1f} s).")
    return True


def choose_upload() -> dict | None:
    """The upload widgets; returns the upload's clip source, or None (with the reason shown)."""
    video = st.file_uploader(
        "Video", type=[e.lstrip(".") for e in SINGLE_VIDEO_EXTENSIONS], key="upload_video",
        help="At most 200 MB; frames are shrunk to 320 px on the longer side as they are decoded.",
    )  # fmt: skip
    skeleton = st.file_uploader(
        "Skeleton (optional)", type=[e.lstrip(".") for e in SKELETON_EXTENSIONS], key="upload_skeleton",
        help="NTU .skeleton, or .npy / .csv as in docs/skeleton-files.md; at most 20 MB. "
        "Without one, the pose can be estimated here.",
    )  # fmt: skip
    if video is None:
        st.caption("Upload a video to inspect it; its pose can be estimated here if it has no skeleton file.")
        return None
    try:
        source = save_upload(
            video.name, video.getvalue(),
            None if skeleton is None else skeleton.name, None if skeleton is None else skeleton.getvalue(),
        )  # fmt: skip
        info = video_info(source["video"])
    except state.LOAD_ERRORS as err:
        st.error(f"Upload refused: {err}")
        return None
    start, length = choose_window(info.seconds, info.fps or 30.0)
    source.update(start=start, length=length)
    if skeleton is None and cached_pose(source):
        source["pose"] = cached_pose(source)
    try:
        clip = state.load_clip(source)  # read it now, so a broken file is reported here
    except state.LOAD_ERRORS as err:
        st.error(f"Upload refused: {err}")
        return None
    for warning in clip.meta.get("warnings", []):
        st.warning(warning)
    if skeleton is None:
        if source.get("pose"):
            st.caption("Pose estimated with BlazePose (cached for this video).")
        elif pose_panel(source, clip.num_frames, key="sidebar"):
            source["pose"] = cached_pose(source)
    return source

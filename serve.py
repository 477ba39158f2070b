"""The app's server (``make app`` runs ``streamlit run serve.py``): the router ``app.py`` inside
Streamlit's ASGI app, with two additions (:mod:`app_support.server`): a deep link asks the
server's root first, so it logs no 404s, and the first page's clip and model are loaded before
the server opens. ``streamlit run app.py`` still works, without them.
"""

from app_support import process

process.configure()  # torch threads and the allocators, before torch and pyarrow are imported

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from app_support.server import BaseUrlScript, lifespan  # noqa: E402

app = st.App("app.py", lifespan=lifespan, middleware=[Middleware(BaseUrlScript)])

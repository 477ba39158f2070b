"""App-side wiring: the only place with streamlit caches and session state."""

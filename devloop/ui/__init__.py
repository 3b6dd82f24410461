"""The Textual dashboard of `devloop up`: a consumer of engine state, nothing more."""

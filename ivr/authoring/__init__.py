"""Authoring tools for menu authors: every route with its listening time, the picture, the
editor schema. Each asks the menu model and the renderer; none re-derives a routing rule."""
